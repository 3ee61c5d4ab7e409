"""Tracking: stable ids, held verdicts, and no raw frame when the detector misses a face."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.detect import FaceDetector
from pipeline.facepipeline import FacePipeline, PipelineOptions
from pipeline.landmarks import Landmarker
from pipeline.latent.swapper import LatentSwapper
from pipeline.prefetch import DetectAhead
from pipeline.track import FaceTracker, TrackerConfig, best_pairs, touching_groups
from pipeline.types import Box, Gender, Verdict

ROOT = Path(__file__).resolve().parents[2]


class BlinkingDetector(FaceDetector):
    """The real detector, except on the listed frames where it finds nothing."""

    def __init__(self, misses: set[int]) -> None:
        super().__init__()
        self.misses = misses
        self.calls = 0

    def detect(self, frame):
        found = [] if self.calls in self.misses else super().detect(frame)
        self.calls += 1
        return found


class FlipFlopClassifier:
    """Says male for the first frames, then female: a held verdict must not follow."""

    def __init__(self) -> None:
        self.calls = 0

    def classify(self, crops):
        self.calls += 1
        gender = Gender.MALE if self.calls <= 10 else Gender.FEMALE
        return [Verdict(gender, 0.95) for _ in crops]


def moving_clip(face_frame, count: int = 20, step: int = 4) -> list[np.ndarray]:
    frame, _ = face_frame
    return [np.roll(frame, shift=i * step, axis=1) for i in range(count)]


def changed(before: np.ndarray, after: np.ndarray, box: Box) -> float:
    rows = slice(max(0, int(box.top)), int(box.bottom))
    cols = slice(max(0, int(box.left)), int(box.right))
    return float(np.abs(after[rows, cols].astype(int) - before[rows, cols]).mean())


@pytest.fixture(scope="module")
def swapper():
    return LatentSwapper.load()


def test_one_face_keeps_one_track(face_frame):
    tracker = FaceTracker(FaceDetector(), Landmarker())
    ids = {face.track_id for frame in moving_clip(face_frame) for face in tracker.update(frame)}
    assert ids == {1}


def test_missed_detections_are_still_covered(face_frame, swapper):
    misses = {3, 4, 5, 11}
    pipeline = FacePipeline(
        BlinkingDetector(misses),
        Landmarker(),
        FlipFlopClassifier(),
        swapper,
        PipelineOptions(identity=False),
        tracking=TrackerConfig(),
    )
    for i, frame in enumerate(moving_clip(face_frame)):
        result = pipeline.process(frame)
        assert len(result.faces) == 1, f"frame {i}: the face went untracked"
        outcome = result.faces[0]
        assert outcome.face.track_id == 1
        assert changed(frame, result.image, outcome.face.box) > 1.0, f"frame {i} shows the face raw"


def test_verdict_is_held_after_the_first_frames(face_frame, swapper):
    classifier = FlipFlopClassifier()
    pipeline = FacePipeline(
        FaceDetector(),
        Landmarker(),
        classifier,
        swapper,
        PipelineOptions(identity=False),
        tracking=TrackerConfig(),
    )
    genders = [pipeline.process(f).faces[0].verdict.gender for f in moving_clip(face_frame)]
    assert set(genders) == {Gender.MALE}
    # once held, the track's face is not classified again
    assert classifier.calls <= TrackerConfig().vote_frames


class UnsureClassifier:
    """Never sure (0.6): a track keeps voting until `vote_frames` votes are in."""

    def __init__(self) -> None:
        self.calls = 0

    def classify(self, crops):
        self.calls += 1
        return [Verdict(Gender.FEMALE, 0.6) for _ in crops]


def test_votes_are_taken_on_detection_frames_only(face_frame, swapper):
    """Between detection frames a track keeps its vote so far, unclassified: with detection
    every 4th frame, 5 votes take frames 0, 4, 8, 12 and 16, and then the verdict is held."""
    classifier = UnsureClassifier()
    config = TrackerConfig(detect_every=4, vote_frames=5)
    pipeline = FacePipeline(
        FaceDetector(), Landmarker(), classifier, swapper, PipelineOptions(identity=False),
        tracking=config,
    )  # fmt: skip
    calls = []
    for frame in moving_clip(face_frame, count=24, step=2):
        result = pipeline.process(frame)
        assert result.faces[0].verdict.gender is Gender.FEMALE
        calls.append(classifier.calls)
    assert calls == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4] + [5] * 8


def test_detection_every_third_frame_still_follows_the_face(face_frame):
    detector = BlinkingDetector(set())
    tracker = FaceTracker(detector, Landmarker(), TrackerConfig(detect_every=3))
    clip = moving_clip(face_frame, count=12, step=6)
    for frame in clip:
        faces = tracker.update(frame)
        assert len(faces) == 1
    assert detector.calls == 4
    truth = FaceDetector().detect(clip[-1])[0].box
    assert faces[0].box.iou(truth) > 0.5


def test_a_face_that_leaves_is_dropped_after_lost_misses(face_frame):
    """The face is gone (the optical flow loses it): its spot stays covered while the detector
    looks `lost_misses` more times, then the track ends."""
    frame, _ = face_frame
    empty = np.full_like(frame, 200)
    config = TrackerConfig(max_misses=5, lost_misses=2)
    tracker = FaceTracker(FaceDetector(), Landmarker(), config)
    tracker.update(frame)
    counts = [len(tracker.update(empty)) for _ in range(5)]
    assert counts == [1, 1, 0, 0, 0]


def test_a_face_the_detector_misses_is_kept_for_max_misses(face_frame):
    """The face is still there (the flow follows it) but the detector stops finding it."""
    frame, _ = face_frame
    detector = BlinkingDetector(set(range(1, 100)))
    tracker = FaceTracker(detector, Landmarker(), TrackerConfig(max_misses=3))
    counts = [len(tracker.update(frame)) for _ in range(6)]
    assert counts == [1, 1, 1, 1, 0, 0]


def test_identity_is_measured_on_a_schedule(face_frame, swapper):
    from pipeline.classify import GenderClassifier
    from pipeline.similarity import IdentityEncoder

    pipeline = FacePipeline(
        FaceDetector(),
        Landmarker(),
        GenderClassifier.load(device="cpu"),
        swapper,
        PipelineOptions(identity=True),
        IdentityEncoder(),
        tracking=TrackerConfig(identity_every=5, vote_frames=2),
    )
    measured = [
        pipeline.process(f).faces[0].result.similarity.identity is not None
        for f in moving_clip(face_frame, count=12, step=2)
    ]
    assert 2 <= sum(measured) <= 4
    assert measured.index(True) <= 2


def walk_in_clip(face_frame, count: int = 8) -> list[np.ndarray]:
    """An empty scene, then the face from the second frame on (moving slowly)."""
    frame, _ = face_frame
    return [np.full_like(frame, 200), *moving_clip(face_frame, count=count - 1, step=3)]


def run_with_detection_every(pipeline: FacePipeline, clip, every: int, lookahead: bool):
    slots = DetectAhead(clip, pipeline.detector, lambda f: f, every=every, lookahead=lookahead)
    return [pipeline.process(slot.item, *slot.results()) for slot in slots]


def sparse_pipeline(swapper, every: int) -> FacePipeline:
    return FacePipeline(
        FaceDetector(),
        Landmarker(),
        FlipFlopClassifier(),
        swapper,
        PipelineOptions(identity=False),
        tracking=TrackerConfig(detect_every=every),
    )


def test_a_face_walking_in_between_detections_is_covered_from_its_first_frame(face_frame, swapper):
    """Detection every 4th frame; the face appears on frame 1, is detected on frame 4. With
    the next detection known ahead (a file is read ahead), frames 1-3 are covered too."""
    clip = walk_in_clip(face_frame)
    results = run_with_detection_every(sparse_pipeline(swapper, 4), clip, 4, lookahead=True)
    assert not results[0].faces
    for i, (frame, result) in enumerate(zip(clip[1:], results[1:], strict=True), 1):
        assert len(result.faces) == 1, f"frame {i}: the face is not covered"
        box = result.faces[0].face.box
        assert changed(frame, result.image, box) > 1.0, f"frame {i} shows the face raw"
    assert {r.faces[0].face.track_id for r in results[1:]} == {1}


def test_without_lookahead_the_walking_in_face_waits_for_the_next_detection(face_frame, swapper):
    """The control for the test above: the same clip, detections not known ahead."""
    clip = walk_in_clip(face_frame)
    results = run_with_detection_every(sparse_pipeline(swapper, 4), clip, 4, lookahead=False)
    assert [len(r.faces) for r in results] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_a_tracked_face_keeps_its_seed_and_tracks_differ(face_frame, swapper):
    """The pipeline gives the swapper one seed per tracked face (the dp mode's noise), the same
    in every frame, different between tracks and between runs."""

    class Recording:
        name = "recording"
        default_strength = 1.0

        def __init__(self) -> None:
            self.seeds: list = []

        def swap(self, crops, genders, strength=None, seeds=None):
            self.seeds.append(list(seeds))
            return list(crops)

    def run() -> list:
        recording = Recording()
        pipeline = FacePipeline(
            FaceDetector(), Landmarker(), FlipFlopClassifier(), recording,
            PipelineOptions(identity=False), tracking=TrackerConfig(),
        )  # fmt: skip
        for frame in moving_clip(face_frame, count=4):
            pipeline.process(frame)
        return recording.seeds

    first, second = run(), run()
    assert len({tuple(s) for s in first}) == 1 and first[0][0] is not None
    assert first[0] != second[0]
    untracked = FacePipeline(
        FaceDetector(), Landmarker(), FlipFlopClassifier(), Recording(),
        PipelineOptions(identity=False),
    )  # fmt: skip
    untracked.process(face_frame[0])
    assert untracked.swapper.seeds == [[None]]


def test_best_pairs_match_the_assignment_solver():
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(7)
    for trial in range(400):
        tracks, faces = rng.integers(1, 7 if trial < 300 else 12, size=2)
        density = 0.3 if trial < 300 else 0.6  # the last 100: crowds, some too large to try out
        overlap = rng.uniform(0, 1, (tracks, faces)) * (rng.uniform(size=(tracks, faces)) < density)
        if trial % 2 and trial < 300:  # faces apart: at most one overlap in each row and column
            keep = np.zeros_like(overlap)
            for r, c in zip(rng.permutation(tracks), rng.permutation(faces), strict=False):
                keep[r, c] = 1
            overlap = overlap * keep
        rows, cols = linear_sum_assignment(1.0 - overlap)
        best = overlap[rows, cols].sum()
        pairs = best_pairs(overlap)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
        assert sum(overlap[r, c] for r, c in pairs) == pytest.approx(best)
    assert best_pairs(np.zeros((2, 3))) == []


def test_best_pairs_of_people_side_by_side_need_no_scipy():
    """Two or three neighbours whose boxes overlap are solved without importing scipy."""
    code = (
        "import sys, numpy as np\n"
        "from pipeline.track import best_pairs\n"
        "overlap = np.array([[0.7, 0.2, 0.0], [0.6, 0.5, 0.0], [0.0, 0.1, 0.8]])\n"
        "print(best_pairs(overlap))\n"
        "print('scipy.optimize' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    assert out == ["[(0, 0), (1, 1), (2, 2)]", "False"]


def test_touching_groups():
    touching = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], bool)
    assert sorted(touching_groups(touching)) == [([0, 1], [0, 1]), ([3], [3])]


class BackdropClassifier:
    """Female on a dark backdrop, male on a light one (the crop's corners tell them apart)."""

    def classify(self, crops):
        corners = [np.concatenate([c.image[:8, :8], c.image[-8:, -8:]]).mean() for c in crops]
        return [Verdict(Gender.FEMALE if m < 100 else Gender.MALE, 0.95) for m in corners]


def cut_clip(face_frame, synthetic_faces, before: int = 10, after: int = 10) -> list[np.ndarray]:
    """A man on a light backdrop, then a hard cut to a woman on a dark one, in the same spot."""
    import cv2

    frame, _ = face_frame
    woman = synthetic_faces[1].image.copy()
    woman[(woman == 200).all(axis=2)] = 40  # her canvas's backdrop, dark
    other = np.full_like(frame, 40)
    other[100:420, 200:520] = cv2.resize(woman, (320, 320), interpolation=cv2.INTER_NEAREST)
    return [frame] * before + [other] * after


def test_a_shot_cut_ends_every_track(face_frame, synthetic_faces, swapper):
    """The woman after the cut overlaps the man's box, but is not his track: his held verdict
    (male) must not carry over. Between the cut (frame 10) and the next detection (frame 12)
    his ended track covers the spot; from there the woman is swapped by her own votes."""
    from pipeline.track import CUT
    from pipeline.types import Action

    clip = cut_clip(face_frame, synthetic_faces)
    pipeline = FacePipeline(
        FaceDetector(), Landmarker(), BackdropClassifier(), swapper,
        PipelineOptions(identity=False), tracking=TrackerConfig(detect_every=4),
    )  # fmt: skip
    results = run_with_detection_every(pipeline, clip, 4, lookahead=True)
    for result in results[:10]:
        (outcome,) = result.faces
        assert outcome.face.track_id == 1 and outcome.verdict.gender is Gender.MALE
    for i in (10, 11):
        (outcome,) = results[i].faces
        assert outcome.action is Action.BLURRED and outcome.reason == CUT, f"frame {i}"
        assert changed(clip[i], results[i].image, outcome.face.box) > 1.0, f"frame {i} is raw"
    for result in results[12:]:
        (outcome,) = result.faces
        assert outcome.face.track_id != 1 and outcome.action is Action.SWAPPED
        assert outcome.verdict.gender is Gender.FEMALE


def test_motion_is_not_a_shot_cut(face_frame):
    tracker = FaceTracker(FaceDetector(), Landmarker(), TrackerConfig(detect_every=4))
    for frame in moving_clip(face_frame, count=12, step=8):
        faces = tracker.update(frame)
        assert [f.track_id for f in faces] == [1]
    assert not any(t.ended for t in tracker.tracks)
