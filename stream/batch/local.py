"""Run batch jobs on this machine: a pool of worker processes, each loading the models once.

Workers are started fresh (spawn) and die with the driver (Linux: PR_SET_PDEATHSIG), so a
killed batch leaves no orphan still writing into the output folder. With CUDA, each worker is
pinned to one GPU in turn.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..build import RunSettings
from .jobs import run_job
from .records import Figures, Job, JobResult

_PR_SET_PDEATHSIG = 1


class LocalExecutor:
    """`submit` jobs (at most `slots` at a time make sense), `wait` for finished ones."""

    def __init__(self, workers: int, settings: RunSettings, gpus: int = 0) -> None:
        self.slots = workers
        self._settings = settings
        self._gpus = gpus
        self._context = multiprocessing.get_context("spawn")
        self._counter = self._context.Value("i", 0)
        self._pool = self._start()
        self._running: dict[Future, Job] = {}

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.slots,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(os.getpid(), self._counter, self._gpus),
        )

    @property
    def busy(self) -> int:
        return len(self._running)

    def submit(self, job: Job) -> None:
        self._running[self._pool.submit(run_job, job, self._settings)] = job

    def wait(self) -> list[JobResult]:
        """Block until at least one job ends; return the ended ones."""
        done, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        results = []
        broken = False
        for future in done:
            job = self._running.pop(future)
            try:
                results.append(future.result())
            except BrokenProcessPool:
                broken = True
                results.append(lost(job, "the worker process died (killed or crashed)"))
        if broken:  # every job still in the pool is lost with it: restart the pool
            for future, job in list(self._running.items()):
                results.append(lost(job, "the worker process died (killed or crashed)"))
                self._running.pop(future)
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = self._start()
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def lost(job: Job, reason: str) -> JobResult:
    """The result of a job whose worker went away."""
    return JobResult(job.rel, job.key[1], ok=False, figures=Figures(), reason=reason, lost=True)


def _init_worker(parent: int, counter, gpus: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the driver died before the line above took effect
            os._exit(1)
    if gpus:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
