"""Bounds that keep a video from stalling: tracks whose fits spread stay bounded or end,
degenerate alignments are covered and never warped, and a frame's face work has a time limit."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pipeline.align import DEGENERATE, DegenerateAlignment, alignment_for, warp_to_crop
from pipeline.facepipeline import OVER_LIMIT, FacePipeline, PipelineOptions
from pipeline.landmarks import Landmarker
from pipeline.track import LOST, FaceTracker, TrackerConfig
from pipeline.types import Action, Box, Detection, Face, Gender, Verdict

FRAME = np.full((480, 640, 3), 120, np.uint8)
START = Box(260, 180, 380, 300)


class OnceDetector:
    """Finds one face on its first call and nothing afterwards (the face is only tracked)."""

    def __init__(self, box: Box = START) -> None:
        self.box = box
        self.calls = 0

    def detect(self, frame):
        self.calls += 1
        return [Detection(self.box, 1.0)] if self.calls == 1 else []


class SpreadingLandmarker:
    """A fit that always spreads `growth` times past the box it is given, and, with
    `compound`, past its own previous fit too (the runaway seen on a street-crowd clip)."""

    def __init__(self, template: np.ndarray, growth: float = 1.3, compound: bool = False) -> None:
        lo, hi = template.min(axis=0), template.max(axis=0)
        self.unit = (template - (lo + hi) / 2) / (hi - lo)  # centred, 1 across
        self.growth = growth
        self.compound = compound
        self.size = 0.0

    def fit(self, gray, box: Box) -> np.ndarray:
        side = max(box.width, box.height) * self.growth
        if self.compound and self.size:
            side = self.size * self.growth
        self.size = side
        return (self.unit * side + np.array(box.center)).astype(np.float32)


@pytest.fixture(scope="module")
def template(face_frame) -> np.ndarray:
    return face_frame[1]


def track_through(tracker: FaceTracker, frames: int = 60) -> list[list[Face]]:
    return [tracker.update(FRAME) for _ in range(frames)]


def test_a_spreading_fit_keeps_the_detector_box_size(template):
    tracker = FaceTracker(
        OnceDetector(), SpreadingLandmarker(template), TrackerConfig(detect_every=1000)
    )
    history = track_through(tracker)
    assert all(len(faces) == 1 for faces in history)
    widest = max(face.box.width for faces in history for face in faces)
    assert widest <= START.width + 1e-6
    spans = [np.ptp(face.landmarks[:, 0]) for faces in history for face in faces]
    assert max(spans) <= 1.31 * START.width


def test_a_compounding_fit_loses_the_track_and_stays_put(template):
    tracker = FaceTracker(
        OnceDetector(),
        SpreadingLandmarker(template, compound=True),
        TrackerConfig(detect_every=1000),
    )
    history = track_through(tracker)
    last = history[-1][0]
    assert tracker.cover_reason(last) == LOST
    # frozen where it was lost: no fit beyond the bound ever reaches the pipeline
    spans = [np.ptp(face.landmarks[:, 0]) for faces in history for face in faces]
    assert max(spans) <= 1.3 * 1.6 * START.width
    assert last.box.width <= START.width + 1e-6


def test_a_track_that_leaves_the_frame_is_lost(template):
    class Drifting(SpreadingLandmarker):
        """Each fit slides 40 px further right than the last (a fit walking off the face)."""

        shift = 0.0

        def fit(self, gray, box):
            self.shift += 40
            return super().fit(gray, START) + np.float32([self.shift, 0])

    tracker = FaceTracker(
        OnceDetector(), Drifting(template, growth=1.0), TrackerConfig(detect_every=1000)
    )
    history = track_through(tracker, 40)
    last = history[-1][0]
    assert tracker.cover_reason(last) == LOST
    assert last.box.left < FRAME.shape[1]  # kept its last region, inside the frame


class FixedClassifier:
    def classify(self, crops):
        return [Verdict(Gender.MALE, 0.9) for _ in crops]


def pipeline(swapper, **options) -> FacePipeline:
    return FacePipeline(
        OnceDetector(),
        Landmarker(),
        FixedClassifier(),
        swapper,
        PipelineOptions(identity=False, **options),
    )


@pytest.fixture(scope="module")
def swapper():
    from pipeline.latent.swapper import LatentSwapper

    return LatentSwapper.load()


def test_a_degenerate_alignment_is_refused_by_the_warp(face_frame):
    frame, landmarks = face_frame
    runaway = (landmarks - landmarks.mean(axis=0)) * 1e7 + landmarks.mean(axis=0)
    with pytest.raises(DegenerateAlignment):
        warp_to_crop(frame, alignment_for(runaway, 256))


def test_a_degenerate_face_is_covered_not_warped(face_frame, swapper):
    frame, landmarks = face_frame
    centre = landmarks.mean(axis=0)
    runaway = ((landmarks - centre) * 1e7 + centre).astype(np.float32)
    box = Box.around(landmarks)
    face = Face(box=box, landmarks=runaway, score=1.0)
    started = time.perf_counter()
    result = pipeline(swapper).process_faces(frame, [face])
    assert time.perf_counter() - started < 10  # the old warp ran for many minutes
    (outcome,) = result.faces
    assert outcome.action is Action.BLURRED
    assert outcome.reason in (DEGENERATE, "landmarks outside the face box")
    changed = np.abs(result.image.astype(int) - frame).sum(axis=2) > 0
    rows, cols = slice(int(box.top), int(box.bottom)), slice(int(box.left), int(box.right))
    assert changed[rows, cols].mean() > 0.9  # the face itself is covered
    assert not changed[:20, :20].any()  # not the whole frame


def test_a_face_with_a_degenerate_alignment_only_is_covered(face_frame, swapper):
    """Landmarks that pass the box check but whose crop is larger than any face could be."""
    frame, landmarks = face_frame
    centre = landmarks.mean(axis=0)
    huge = ((landmarks - centre) * 20 + centre).astype(np.float32)
    face = Face(box=Box.around(huge), landmarks=huge, score=1.0)
    (outcome,) = pipeline(swapper).process_faces(frame, [face]).faces
    assert outcome.action is Action.BLURRED
    assert outcome.reason == DEGENERATE


def test_a_frame_out_of_time_covers_its_remaining_faces(face_frame, swapper):
    frame, landmarks = face_frame
    face = Face(box=Box.around(landmarks), landmarks=landmarks, score=1.0)
    result = pipeline(swapper, frame_limit=0.0).process_faces(frame, [face, face])
    assert result.over_limit
    assert [o.reason for o in result.faces] == [OVER_LIMIT, OVER_LIMIT]
    assert pipeline(swapper, frame_limit=60.0).process_faces(frame, [face]).swapped == 1
