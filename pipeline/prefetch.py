"""Run the face detector ahead of the rest of the face work, in its own thread.

Detection is the costliest stage and dlib releases the GIL while it scans, so on a multi-core
machine the detector can work on the next frames while landmarks, swap and blend run on the
current one. `DetectAhead` wraps a stream of frames and pairs each with a future of its
detections (None on frames the tracker does not detect on); `FacePipeline.process` takes the
result instead of running the detector itself.

    for frame, future in DetectAhead(frames, detector, image_of=lambda f: f.image):
        result = pipeline.process(frame.image, found=future.result() if future else None)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from .detect import FaceDetector
from .timing import StageTimer
from .types import Detection

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Found:
    """The detections of one frame and the seconds the detector took for them."""

    detections: tuple[Detection, ...]
    seconds: float


def detect_timed(detector: FaceDetector, image: np.ndarray) -> Found:
    started = time.perf_counter()
    detections = tuple(detector.detect(image))
    return Found(detections, time.perf_counter() - started)


def detections_of(
    detector: FaceDetector, image: np.ndarray, timer: StageTimer, found: Found | None
) -> tuple[Detection, ...]:
    """The frame's detections: those found ahead, or the detector's now; timed as "detect"."""
    if found is None:
        found = detect_timed(detector, image)
    timer.seconds["detect"] += found.seconds
    return found.detections


class DetectAhead(Generic[T]):
    """Pairs each item with a future of its frame's detections, computed in a worker thread.

    `every`: detect on every N-th item only (the tracker's `detect_every`; the others get
    None). `depth`: items pulled (and their detection started) before the first is handed
    out; 0 suits a consumer that reads ahead itself (a reader thread with a bounded queue),
    1 lets the detector work on the next frame while the caller processes this one.
    `workers`: detector threads; with more than one, consecutive frames are scanned at the
    same time (results still come in frame order).
    """

    def __init__(
        self,
        items: Iterable[T],
        detector: FaceDetector,
        image_of: Callable[[T], np.ndarray],
        every: int = 1,
        depth: int = 0,
        workers: int = 1,
    ) -> None:
        self.items = items
        self.detector = detector
        self.image_of = image_of
        self.every = max(1, every)
        self.depth = depth
        self.workers = max(1, workers)

    def __iter__(self) -> Iterator[tuple[T, Future[Found] | None]]:
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="faceanon-detect")
        waiting: deque[tuple[T, Future[Found] | None]] = deque()
        try:
            for index, item in enumerate(self.items):
                future = None
                if index % self.every == 0:
                    future = pool.submit(detect_timed, self.detector, self.image_of(item))
                waiting.append((item, future))
                if len(waiting) > self.depth:
                    yield waiting.popleft()
            while waiting:
                yield waiting.popleft()
        except BaseException:  # a consumer that stops early needs no more detections
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=False)  # the futures handed out still complete
