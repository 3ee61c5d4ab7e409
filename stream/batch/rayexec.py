"""Run batch jobs on a Ray cluster: one task per file or per part of a long file.

Ray is imported here only, so a batch without `--ray` never loads it. Tasks read their inputs
and write their outputs at the same paths as the driver: on a real cluster the input and
output folders must be on storage every node mounts at the same place. Only the driver writes
the manifest; tasks return their results to it.
"""

from __future__ import annotations

import logging

from pipeline.errors import InputError

from ..build import RunSettings
from .jobs import run_job
from .local import lost
from .records import Job, JobResult


class RayExecutor:
    """`address`: "local" starts a private Ray instance on this machine with `workers` CPUs;
    "auto" joins the cluster this machine belongs to; anything else is a cluster address."""

    def __init__(
        self, address: str, workers: int | None, settings: RunSettings, gpus: bool
    ) -> None:
        try:
            import ray
        except ImportError as error:
            raise InputError("--ray needs Ray: pip install 'faceanon[ray]'") from error
        self._ray = ray
        options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        try:
            if address == "local":
                ray.init(num_cpus=workers or 2, **options)
            else:
                ray.init(address=address, **options)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise InputError(f"cannot reach the Ray cluster at {address}: {error}") from error
        resources = ray.cluster_resources()
        use_gpu = gpus and resources.get("GPU", 0) >= 1
        if workers is None:
            count = resources.get("GPU", 0) if use_gpu else resources.get("CPU", 2) // 2
            workers = max(1, int(count))
        self.slots = workers
        self._task = ray.remote(run_job).options(
            num_cpus=1, num_gpus=1 if use_gpu else 0, max_retries=0
        )
        self._settings = ray.put(settings)
        self._running: dict = {}

    @property
    def busy(self) -> int:
        return len(self._running)

    def submit(self, job: Job) -> None:
        self._running[self._task.remote(job, self._settings)] = job

    def wait(self) -> list[JobResult]:
        ready, _ = self._ray.wait(list(self._running), num_returns=1)
        results = []
        for ref in ready:
            job = self._running.pop(ref)
            try:
                results.append(self._ray.get(ref))
            except self._ray.exceptions.RayError as error:
                reason = " ".join(str(error).split())[:300]
                results.append(lost(job, f"the Ray task died: {reason}"))
        return results

    def close(self) -> None:
        for ref in self._running:
            self._ray.cancel(ref, force=True)
        self._running.clear()
        logging.getLogger("ray").setLevel(logging.ERROR)
        self._ray.shutdown()
