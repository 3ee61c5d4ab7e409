"""Identity readouts off the frame loop, in a worker process.

A readout is two landmark fits and two dlib face descriptors (3-5 ms each on this CPU with
`recognition`; dlib's own code took 110 ms and held the GIL): done inline, every readout
would still stall a live preview or the video loop for about 10 ms. `BackgroundIdentity`
sends the crops to one worker process instead; the figures join the same track's next frame
once they are ready. Readouts are informational only: the swap never waits for them, and a
worker that fails just stops them (logged once). The worker is spawned (not forked: the parent
runs torch and detector threads), so, as with any spawned process, a script that starts one
needs the `if __name__ == "__main__":` guard; the worker takes a few seconds to load, and
readouts wait for it meanwhile.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import replace

import numpy as np

from .similarity import IdentityEncoder, identity_readout
from .types import AlignedCrop, Face, Similarity

log = logging.getLogger(__name__)

_encoder: IdentityEncoder | None = None  # the worker process's own, loaded once
WORKER_NICENESS = 10


def _start_worker() -> None:
    global _encoder
    lowest_priority()
    _encoder = IdentityEncoder()


def lowest_priority(pid: int = 0) -> None:
    """Informational work: the cores go to the frame loop, the detector and the codecs first.
    On Linux the worker (`pid`, 0: this process) runs under SCHED_IDLE, only on cycles
    nothing else wants (at nice 10 it still took its share: a hamilton run took 1.2 s longer
    with readouts than without, three pairs); elsewhere, or where that is refused, at nice
    `WORKER_NICENESS`; where neither exists (Windows), as it is."""
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, pid, WORKER_NICENESS)


class IdleProcess(multiprocessing.get_context("spawn").Process):  # type: ignore[misc]
    """A spawned process put on idle cycles the moment it exists: its imports and model
    loading (about a second of CPU) then wait for the parent's own start-up instead of
    competing with it."""

    def start(self) -> None:
        super().start()
        if self.pid is not None:
            lowest_priority(self.pid)


class IdleSpawnContext(type(multiprocessing.get_context("spawn"))):  # type: ignore[misc]
    """Spawns `IdleProcess`es and keeps them in `processes`, so their owner can stop them."""

    def __init__(self) -> None:
        super().__init__()
        self.processes: list[IdleProcess] = []

    def Process(self, *args, **kwargs) -> IdleProcess:  # multiprocessing calls it so
        process = IdleProcess(*args, **kwargs)
        self.processes.append(process)
        return process


def _ready() -> bool:
    return _encoder is not None


def _readout(
    original: np.ndarray, landmarks: np.ndarray, processed: np.ndarray
) -> tuple[float, float, bool]:
    assert _encoder is not None
    return identity_readout(_encoder, original, landmarks, processed)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored meanwhile, in this process and in the processes it starts (they inherit
    the setting); a no-op off the main thread, where signals cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class BackgroundIdentity:
    """At most one readout in flight per key (a track id); finished ones wait to be collected.
    An `IdentityReadout`: `measure` collects the track's finished figures and starts the next
    readout when one is wanted."""

    needs_tracks = True

    def __init__(self) -> None:
        self._context = IdleSpawnContext()
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=self._context,
            initializer=_start_worker,
        )
        self._pending: dict[int, Future] = {}
        self._failed = False
        # Start the worker now (it loads dlib's models), not on the first readout, with
        # SIGINT ignored from its first instruction: Ctrl-C is the parent's to handle, and a
        # worker still importing would otherwise print a traceback of its own.
        with _sigint_ignored():
            self._started = self._pool.submit(_ready)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the worker has loaded its models; whether it has."""
        try:
            return bool(self._started.result(timeout))
        except Exception:
            return False

    def submit(self, key: int, original: AlignedCrop, processed: np.ndarray) -> bool:
        """Start a readout for `key` unless one is in flight; whether one was started."""
        if self._failed or key in self._pending:
            return False
        try:
            future = self._pool.submit(_readout, original.image, original.landmarks, processed)
        except Exception as error:  # the worker is gone (killed, say): readouts stop here
            self._stop(error)
            return False
        self._pending[key] = future
        return True

    def collect(self, key: int, figures: Similarity) -> Similarity:
        """`figures` with the identity fields of `key`'s finished readout, if there is one."""
        future = self._pending.get(key)
        if future is None or not future.done():
            return figures
        del self._pending[key]
        try:
            identity, distance, risk = future.result()
        except Exception as error:  # a failing worker: no more readouts, the swap goes on
            self._stop(error)
            return figures
        return replace(figures, identity=identity, identity_distance=distance, reid_risk=risk)

    def measure(
        self,
        face: Face,
        original: AlignedCrop,
        processed: np.ndarray,
        figures: Similarity,
        wanted: bool,
    ) -> Similarity:
        if face.track_id is None:
            return figures
        figures = self.collect(face.track_id, figures)
        if wanted:
            self.submit(face.track_id, original, processed)
        return figures

    def _stop(self, error: BaseException) -> None:
        if not self._failed:
            log.warning("identity readouts stopped: %s", error)
        self._failed = True

    def forget_except(self, keys: set[int]) -> None:
        """Drop finished readouts of tracks that are gone (nobody will collect them)."""
        for key in [k for k, f in self._pending.items() if k not in keys and f.done()]:
            del self._pending[key]

    def close(self) -> None:
        """Stop the worker now: a readout still running (or the worker still loading) would
        only be thrown away, and waiting for it kept a short clip's command a second longer."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        started = [p for p in self._context.processes if p.pid is not None]
        for process in started:
            process.terminate()
        for process in started:
            process.join()
        self._pool.shutdown(wait=True)
        self._pending.clear()
