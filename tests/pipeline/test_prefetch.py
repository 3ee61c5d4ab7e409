"""Detection ahead of the face work: right frame, right schedule, in its own thread."""

from __future__ import annotations

import threading
import time

import numpy as np

from pipeline.prefetch import DetectAhead, Found
from pipeline.timing import StageTimer
from pipeline.track import FaceTracker, TrackerConfig
from pipeline.types import Box, Detection


class RecordingDetector:
    """Returns one box whose left edge is the frame's fill value; notes the thread it ran in."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.delay = delay

    def detect(self, frame: np.ndarray) -> list[Detection]:
        time.sleep(self.delay)
        self.threads.add(threading.current_thread().name)
        value = int(frame[0, 0, 0])
        self.calls.append(value)
        return [Detection(Box(value, 0, value + 10, 10), 1.0)]


def frames(count: int) -> list[np.ndarray]:
    return [np.full((8, 8, 3), i, np.uint8) for i in range(count)]


def test_each_frame_gets_its_own_detections_off_the_main_thread():
    detector = RecordingDetector()
    paired = list(DetectAhead(frames(6), detector, lambda f: f))
    assert [int(slot.item[0, 0, 0]) for slot in paired] == list(range(6))
    for slot in paired:
        found, upcoming = slot.results()
        assert isinstance(found, Found) and found.seconds >= 0 and upcoming is None
        assert found.detections[0].box.left == slot.item[0, 0, 0]
    assert threading.current_thread().name not in detector.threads


def test_only_every_nth_frame_is_detected():
    detector = RecordingDetector()
    paired = list(DetectAhead(frames(7), detector, lambda f: f, every=3, lookahead=False))
    assert [slot.found is not None for slot in paired] == [i % 3 == 0 for i in range(7)]
    assert all(slot.upcoming is None for slot in paired)
    detected = [slot.found.result() for slot in paired if slot.found is not None]
    assert [found.detections[0].box.left for found in detected] == [0, 3, 6]
    assert sorted(detector.calls) == [0, 3, 6]


def test_frames_between_detections_carry_the_next_detection():
    detector = RecordingDetector()
    paired = list(DetectAhead(frames(8), detector, lambda f: f, every=3))
    assert [int(slot.item[0, 0, 0]) for slot in paired] == list(range(8))
    upcoming = [
        slot.upcoming.result().detections[0].box.left if slot.upcoming else None for slot in paired
    ]
    # frames 1-2 see frame 3's detections, 4-5 frame 6's; after the last one there is none
    assert upcoming == [None, 3, 3, None, 6, 6, None, None]
    assert sorted(detector.calls) == [0, 3, 6]


def test_lookahead_holds_frames_back_only_until_the_next_detection_frame():
    detector = RecordingDetector()
    pulled: list[int] = []

    def source():
        for i, frame in enumerate(frames(9)):
            pulled.append(i)
            yield frame

    iterator = iter(DetectAhead(source(), detector, lambda f: f, every=4))
    assert int(next(iterator).item[0, 0, 0]) == 0 and pulled == [0]
    assert int(next(iterator).item[0, 0, 0]) == 1 and pulled == [0, 1, 2, 3, 4]


def test_depth_starts_the_next_detection_before_handing_out_this_frame():
    detector = RecordingDetector()
    iterator = iter(DetectAhead(frames(5), detector, lambda f: f, depth=1))
    first = next(iterator).item
    assert int(first[0, 0, 0]) == 0
    time.sleep(0.05)
    assert 1 in detector.calls  # frame 1 was already being detected


def test_stopping_early_does_not_wait_for_queued_detections():
    detector = RecordingDetector(delay=0.05)
    iterator = iter(DetectAhead(frames(40), detector, lambda f: f, depth=30))
    next(iterator)
    started = time.perf_counter()
    iterator.close()
    assert time.perf_counter() - started < 1.0  # not 30 × 50 ms
    assert len(detector.calls) < 10


def test_tracker_uses_detections_found_ahead():
    detector = RecordingDetector()

    class FixedLandmarks:
        def fit(self, gray, box):
            return np.tile([[box.left + 5, 5.0]], (68, 1)).astype(np.float32)

    tracker = FaceTracker(detector, FixedLandmarks(), TrackerConfig())
    found = Found((Detection(Box(40, 0, 50, 10), 1.0),), 0.25)
    timer = StageTimer()
    faces = tracker.update(np.zeros((8, 8, 3), np.uint8), timer, found)
    assert detector.calls == []  # the tracker did not run the detector itself
    assert faces[0].box == Box(40, 0, 50, 10)
    assert timer.seconds["detect"] == 0.25


class UnevenDetector(RecordingDetector):
    """Even frames take longer, so with two threads later frames finish first."""

    def detect(self, frame: np.ndarray) -> list[Detection]:
        time.sleep(0.03 if int(frame[0, 0, 0]) % 2 == 0 else 0.0)
        return super().detect(frame)


def test_two_detector_threads_scan_frames_at_once_and_keep_frame_order():
    detector = UnevenDetector()
    paired = list(DetectAhead(frames(8), detector, lambda f: f, depth=8, workers=2))
    lefts = [slot.found.result().detections[0].box.left for slot in paired]
    assert lefts == list(range(8))
    assert len(detector.threads) == 2
    assert detector.calls != sorted(detector.calls)  # they did finish out of order
