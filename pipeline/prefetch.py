"""Run the face detector ahead of the rest of the face work, in its own threads.

Detection is the costliest stage and dlib releases the GIL while it scans, so on a multi-core
machine the detector can work on the next frames while landmarks, swap and blend run on the
current one. `DetectAhead` wraps a stream of frames and pairs each with a future of its
detections (None on frames the tracker does not detect on) and, with `lookahead`, a future of
the next detection frame's, so that a face about to be detected is covered from the frame it
first appears in, not from the detection frame after it; `FacePipeline.process` takes the
results instead of running the detector itself.

    for slot in DetectAhead(frames, detector, image_of=lambda f: f.image, every=4):
        result = pipeline.process(slot.item.image, *slot.results())
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


@dataclass(frozen=True, eq=False)
class Slot(Generic[T]):
    """One item with its detections: `found` on detection frames, else None; `upcoming`, on
    the frames between, the next detection frame's (None without look-ahead, or at the end)."""

    item: T
    found: Future[Found] | None
    upcoming: Future[Found] | None = None

    def results(self) -> tuple[Found | None, Found | None]:
        """(found, upcoming), waiting for the detector where it has not finished yet."""
        return (
            self.found.result() if self.found else None,
            self.upcoming.result() if self.upcoming else None,
        )


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
    """Pairs each item with futures of detections computed in worker threads (`Slot`s).

    `every`: detect on every N-th item only (the tracker's `detect_every`). `lookahead`: hold
    the items between two detection frames back until the second one's detection has been
    started, and hand them out with its future as `upcoming` (up to N−1 items wait).
    `depth`: further items pulled (and their detection started) before the first is handed
    out; 0 suits a consumer that reads ahead itself (a reader thread with a bounded queue).
    `workers`: detector threads; with more than one, detection frames are scanned at the same
    time (results still come in frame order).
    """

    def __init__(
        self,
        items: Iterable[T],
        detector: FaceDetector,
        image_of: Callable[[T], np.ndarray],
        every: int = 1,
        depth: int = 0,
        workers: int = 1,
        lookahead: bool = True,
    ) -> None:
        self.items = items
        self.detector = detector
        self.image_of = image_of
        self.every = max(1, every)
        self.depth = depth
        self.workers = max(1, workers)
        self.lookahead = lookahead and self.every > 1

    def __iter__(self) -> Iterator[Slot[T]]:
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="faceanon-detect")
        ready: deque[Slot[T]] = deque()  # may be handed out
        between: list[T] = []  # items after the last detection frame, awaiting the next
        try:
            for index, item in enumerate(self.items):
                if index % self.every == 0:
                    future = pool.submit(detect_timed, self.detector, self.image_of(item))
                    ready.extend(Slot(held, None, future) for held in between)
                    between.clear()
                    ready.append(Slot(item, future))
                elif self.lookahead:
                    between.append(item)
                else:
                    ready.append(Slot(item, None))
                while len(ready) > self.depth:
                    yield ready.popleft()
            ready.extend(Slot(held, None) for held in between)
            while ready:
                yield ready.popleft()
        except BaseException:  # a consumer that stops early needs no more detections
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=False)  # the futures handed out still complete
