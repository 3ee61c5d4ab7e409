"""What keeps a track swapped between the detector's looks: the detector seeing the face (a
less sure detection is enough to keep a face, never to start one), and a steady pose verdict
(the detector's profile verdict held between its looks, the landmarks' yaw steadied)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_track import BlinkingDetector, changed

from pipeline.detect import FaceDetector
from pipeline.facepipeline import FacePipeline, PipelineOptions
from pipeline.landmarks import TURNED, Landmarker, yaw_degrees
from pipeline.latent.swapper import LatentSwapper
from pipeline.track import CUT, UNSEEN, FaceTracker, Track, TrackerConfig
from pipeline.types import Action, Box, Face, Gender, Verdict


class ScriptedDetector(FaceDetector):
    """The real detector, its answer per call changed by `script(call, detections)`."""

    def __init__(self, script) -> None:
        super().__init__()
        self.script = script
        self.calls = 0

    def detect(self, frame):
        found = self.script(self.calls, super().detect(frame))
        self.calls += 1
        return found


class MaleClassifier:
    def classify(self, crops):
        return [Verdict(Gender.MALE, 0.95) for _ in crops]


@pytest.fixture(scope="module")
def swapper():
    return LatentSwapper.load()


def run(detector, frame, swapper, frames: int = 16):
    """The same frame over and over, the detector scripted, detection every 4th frame."""
    pipeline = FacePipeline(
        detector, Landmarker(), MaleClassifier(), swapper,
        PipelineOptions(identity=False), tracking=TrackerConfig(detect_every=4),
    )  # fmt: skip
    return [pipeline.process(frame) for _ in range(frames)]


def test_a_face_the_detector_stops_seeing_is_covered_until_it_sees_it_again(face_frame, swapper):
    """Frames 0-3 swapped; the detector finds nothing at frames 4 and 8 (a head turned away:
    the flow and the fit still follow something face-like): covered, not swapped; seen again
    at frame 12, swapped again. Before, the track was swapped all along."""
    frame, _ = face_frame
    results = run(BlinkingDetector({1, 2}), frame, swapper)
    actions = [r.faces[0].action for r in results]
    assert actions == [Action.SWAPPED] * 4 + [Action.BLURRED] * 8 + [Action.SWAPPED] * 4
    for i in range(4, 12):
        (outcome,) = results[i].faces
        assert outcome.reason == UNSEEN
        assert changed(frame, results[i].image, outcome.face.box) > 1.0, f"frame {i} is raw"


def test_a_less_sure_detection_keeps_a_track_but_starts_none(face_frame, swapper):
    frame, _ = face_frame

    def unsure(call, found):
        return [replace(d, sure=False) for d in found] if call > 0 else found

    results = run(ScriptedDetector(unsure), frame, swapper)
    assert [r.faces[0].action for r in results] == [Action.SWAPPED] * 16
    tracker = FaceTracker(ScriptedDetector(unsure), Landmarker(), TrackerConfig())
    tracker.update(frame)
    tracker.tracks.clear()  # the face is no longer followed: an unsure detection cannot start it
    assert tracker.update(frame) == []


def profile_at_4(call, found):
    """The detector's second look (frame 4, detecting every 4th) puts the nose beyond an eye."""
    if call != 1:
        return found
    (d,) = found
    points = d.points.copy()
    points[2, 0] = points[0, 0] - 0.5 * (points[1, 0] - points[0, 0])
    return [replace(d, points=points)]


def test_the_detectors_profile_verdict_holds_between_its_looks(face_frame, swapper):
    """The detector's five points put the nose beyond an eye at frame 4: covered as turned on
    frames 4-7, not only on frame 4 (a face flashing between swap and cover every frame)."""
    frame, _ = face_frame

    results = run(ScriptedDetector(profile_at_4), frame, swapper)
    reasons = [r.faces[0].reason for r in results]
    assert reasons == [None] * 4 + [TURNED] * 4 + [None] * 8


def turned_by(points: np.ndarray, yaw: float) -> np.ndarray:
    """The landmarks with one half squashed towards the nose until `yaw_degrees` gives `yaw`."""
    centre = points[30, 0]
    left = points[:, 0] < centre
    low, high = 0.0, 1.0
    for _ in range(40):
        squash = (low + high) / 2
        turned = points.copy()
        turned[left, 0] = centre - (centre - points[left, 0]) * squash
        low, high = (low, squash) if abs(yaw_degrees(turned)) < yaw else (squash, high)
    return turned


def test_a_yaw_estimate_swinging_about_the_limit_does_not_flash(face_frame):
    """One frame's yaw swings by 10 degrees on a dim face: the track's verdict follows the
    median of five frames, with a hysteresis; a far turn in one frame is covered at once."""
    _, points = face_frame
    track = Track(1, face_with(points), Box.around(points), np.zeros(2), spread=1.0)
    verdicts = []
    swings = (52, 52, 63, 52, 52, 63, 52, 52)
    for yaw in (*swings, 66, 66, 66, 57, 57, 57, 50, 50, 50, 80):
        track.face = face_with(turned_by(points, yaw))
        FaceTracker._hold_pose(track)
        verdicts.append(track.turned)
    # one frame in three past 60 keeps the swap (per frame, those frames were covered); a
    # steady turn past it covers from its second frame; back to 57 (within the hysteresis)
    # stays covered; steady below 55 swaps again; 80 in one frame covers at once
    expected = [False] * 9 + [True] * 7 + [False, True]
    assert verdicts == expected


def face_with(landmarks: np.ndarray) -> Face:
    return Face(box=Box.around(landmarks), landmarks=landmarks.astype(np.float32), score=1.0)


def test_a_face_the_detector_sees_is_kept_where_the_flow_fails(face_frame, monkeypatch):
    """On a dim, blurred face the optical flow fails on most points in every frame: a track
    the detector saw at its last look stays (re-fitted where it was) instead of being lost
    and covered between the detector's looks; one it did not see is lost, as before."""
    from pipeline import track as track_module

    def failing(previous, gray, points, *args, **kwargs):
        return points, np.zeros((len(points), 1), np.uint8), None

    frame, _ = face_frame
    tracker = FaceTracker(FaceDetector(), Landmarker(), TrackerConfig(detect_every=8))
    tracker.update(frame)
    monkeypatch.setattr(track_module.cv2, "calcOpticalFlowPyrLK", failing)
    for _ in range(3):
        (face,) = tracker.update(frame)
        assert tracker.cover_reason(face) is None
    tracker.tracks[0].misses = 1  # not seen at the detector's last look
    tracker.update(frame)
    assert tracker.tracks[0].lost


def test_without_a_tracker_a_less_sure_detection_is_no_face(face_frame, swapper):
    """`faceanon batch` shares the video pipeline's detector (which reports less sure faces)
    with its photos, which are processed without a tracker: those must not become faces."""
    frame, _ = face_frame

    def unsure(call, found):
        return [replace(d, sure=False) for d in found]

    pipeline = FacePipeline(
        ScriptedDetector(unsure), Landmarker(), MaleClassifier(), swapper,
        PipelineOptions(identity=False),
    )  # fmt: skip
    assert pipeline.process(frame).faces == ()
    sure = FacePipeline(
        ScriptedDetector(lambda call, found: found), Landmarker(), MaleClassifier(), swapper,
        PipelineOptions(identity=False),
    )  # fmt: skip
    assert len(sure.process(frame).faces) == 1


class CountingLandmarker(Landmarker):
    """dlib's landmarks, counting its fits."""

    def __init__(self) -> None:
        super().__init__()
        self.fits = 0

    def fit(self, gray, box):
        self.fits += 1
        return super().fit(gray, box)


def test_a_track_covered_whatever_its_landmarks_say_is_moved_by_the_flow_without_fits(
    face_frame,
):
    """Frames 0-3 confirm the face (a fit each); the detector misses it at frames 4 and 8: the
    track is covered as unseen there and between, so its landmarks are not fitted again (the
    flow moves it); seen again at frame 12, fitted each frame as before."""
    frame, _ = face_frame
    landmarker = CountingLandmarker()
    tracker = FaceTracker(BlinkingDetector({1, 2}), landmarker, TrackerConfig(detect_every=4))
    fits = []
    for _ in range(16):
        before = landmarker.fits
        (face,) = tracker.update(frame)
        fits.append(landmarker.fits - before)
        assert (tracker.cover_reason(face) == UNSEEN) == (4 <= tracker.frame_number < 12)
    assert fits == [1] * 4 + [0] * 8 + [1] * 4
    tracker.update(frame)  # frame 16, a detection frame
    tracker._end_all()  # a shot cut: the track is covered from now on, and moved by the flow
    before = landmarker.fits
    (face,) = tracker.update(frame)
    assert tracker.cover_reason(face) == CUT
    assert landmarker.fits == before


def test_a_profile_by_the_detector_is_not_fitted_again_until_its_next_look(face_frame):
    """The detector's profile verdict holds until its next look, so the frames between need
    no fit; the look after it (frontal again) fits and swaps as before."""
    frame, _ = face_frame

    landmarker = CountingLandmarker()
    tracker = FaceTracker(ScriptedDetector(profile_at_4), landmarker, TrackerConfig(detect_every=4))
    fits, reasons = [], []
    for _ in range(12):
        before = landmarker.fits
        (face,) = tracker.update(frame)
        fits.append(landmarker.fits - before)
        reasons.append(tracker.cover_reason(face))
    assert reasons == [None] * 4 + [TURNED] * 4 + [None] * 4
    assert fits == [1] * 5 + [0] * 3 + [1] * 4
