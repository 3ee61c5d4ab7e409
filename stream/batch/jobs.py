"""The work of one batch job, in whatever process runs it (local worker or Ray task).

Models are loaded once per process and reused for every job it runs; each video gets a fresh
tracker. Every failure becomes a one-line reason in the result: a bad file never stops the
batch.
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
from dataclasses import replace
from pathlib import Path

from pipeline.detect import FaceDetector
from pipeline.errors import FaceanonError
from pipeline.facepipeline import FacePipeline
from pipeline.track import FaceTracker

from ..build import RunSettings, build_pipeline
from ..report import Tally
from .records import Figures, FileJob, Job, JobResult, PartJob

_PIPELINES: dict[RunSettings, FacePipeline] = {}
HASH_CHUNK = 1 << 20


def run_job(job: Job, settings: RunSettings) -> JobResult:
    """Run one job; never raises for a problem with the file (the result says what failed).
    Its seconds count the file's work, not the models' loading (once per process)."""
    digest = None
    try:
        _pipeline(settings)
    except FaceanonError as error:
        return JobResult(job.rel, job.key[1], False, Figures(), one_line(error), pid=os.getpid())
    started = time.perf_counter()
    try:
        if isinstance(job, PartJob):
            tally = _run_part(job, settings)
        else:
            digest = content_hash(job.source)
            tally = _run_file(job, settings)
    except (FaceanonError, OSError, RuntimeError, ValueError, MemoryError) as error:
        return JobResult(
            job.rel,
            job.key[1],
            ok=False,
            figures=Figures(seconds=time.perf_counter() - started),
            reason=one_line(error),
            hash=digest,
            pid=os.getpid(),
        )
    except Exception as error:  # a library failing in a way we did not foresee
        return JobResult(
            job.rel,
            job.key[1],
            ok=False,
            figures=Figures(seconds=time.perf_counter() - started),
            reason=f"unexpected failure: {one_line(error)}",
            hash=digest,
            pid=os.getpid(),
        )
    figures = Figures.of(tally, time.perf_counter() - started, peak_rss_mb())
    return JobResult(job.rel, job.key[1], True, figures, hash=digest, tally=tally, pid=os.getpid())


def content_hash(path: Path) -> str:
    """blake2b of the file's bytes, hex (a changed input is redone)."""
    digest = hashlib.blake2b(digest_size=20)
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM) in MiB, where /proc tells it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if not isinstance(error, FaceanonError):
        text = f"{type(error).__name__}: {text}"
    return " ".join(text.split())


def _pipeline(settings: RunSettings) -> FacePipeline:
    """The process's pipeline for these settings, with video tracking (built once)."""
    if settings not in _PIPELINES:
        _PIPELINES[settings] = build_pipeline(settings, video=True)
    return _PIPELINES[settings]


def video_pipeline(settings: RunSettings) -> FacePipeline:
    """The loaded models with a tracker of their own: no track runs from one video into the
    next."""
    base = _pipeline(settings)
    fresh = copy.copy(base)
    if base.tracker is not None:
        fresh.tracker = FaceTracker(base.detector, base.landmarker, base.tracker.config)
    return fresh


def image_pipeline(settings: RunSettings) -> FacePipeline:
    """The loaded models without tracking: each image stands alone, searched as `faceanon
    image` searches it (a second look where none was found; only sure faces)."""
    fresh = copy.copy(_pipeline(settings))
    fresh.tracker = None
    photo = replace(fresh.detector.config, second_look=True, keep_margin=0.0)
    fresh.detector = FaceDetector(photo)
    return fresh


def _run_file(job: FileJob, settings: RunSettings) -> Tally:
    from ..report import write_report

    if job.kind == "image":
        from ..imagejob import run_images

        pairs = [(job.source, job.output)]
        tally, records = run_images(pairs, image_pipeline(settings), True, settings.no_face)
        if job.report is not None:
            write_report(job.report, "batch", settings.as_report(), records, tally)
        return tally
    from ..videojob import anonymize_video, video_report

    run = anonymize_video(
        job.source,
        job.output,
        video_pipeline(settings),
        quiet=True,
        detect_workers=settings.detect_threads,
    )
    if job.report is not None:
        record = video_report(run, job.source, job.output)
        write_report(job.report, "batch", settings.as_report(), [record], run.tally)
    return run.tally


def _run_part(job: PartJob, settings: RunSettings) -> Tally:
    from ..concurrency import run_pipelined
    from ..frame import Frame
    from ..video_io import VideoFileSink, probe_video
    from .segments import SpanFrames

    pipeline = video_pipeline(settings)
    info = probe_video(job.source)
    tally = Tally()

    def process(frame: Frame) -> Frame:
        result = pipeline.process(frame.image)
        tally.add(result)
        return frame.with_image(result.image)

    frames = iter(SpanFrames(job.source, (job.start_pts, job.end_pts)))
    first = next(frames, None)
    if first is None:
        return tally  # an empty span (a gap in the recording): no part file
    with VideoFileSink(job.output, info) as sink:
        run_pipelined(_prepend(first, frames), process, sink.write)
    return tally


def _prepend(first, rest):
    yield first
    yield from rest
