"""Plan a batch, schedule its jobs on an executor, record every result in the manifest.

Crash safety rests on three things: outputs appear only under temporary names until complete
(`atomic`), the manifest says what is finished (done, the input's hash, the output's path),
and a run starts by putting what a killed run left `running` back to `pending` and deleting
its stale temporary files. One batch at a time may use an output folder (a lock file).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import av
from tqdm import tqdm

from pipeline.errors import FaceanonError, InputError

from ..atomic import check_writable_folder, make_folder
from ..build import RunSettings
from ..report import write_report
from .discover import Discovery, MediaFile, discover
from .jobs import content_hash, one_line
from .manifest import DONE, FAILED, MANIFEST_NAME, PENDING, FileRecord, Manifest
from .naming import Placement, place
from .records import (
    Figures,
    FileJob,
    Job,
    JobResult,
    PartJob,
    merge_tallies,
    tally_from_json,
    tally_to_json,
)
from .segments import join_parts, plan_spans
from .summary import write_summary

log = logging.getLogger(__name__)

LOCK_NAME = ".faceanon-batch.lock"
PARTS_FOLDER = ".faceanon-parts"
REPORT_SUFFIX = ".report.json"
# Temporary names from stream.atomic (`.stem.1a2b3c4d.partial.mp4`) and its write probes.
_LEFTOVER = re.compile(r"^\..*\.[0-9a-f]{8}\.partial(\.[^./]+)?$|^\.faceanon-probe-[0-9a-f]{8}$")


@dataclass(frozen=True)
class BatchOptions:
    """What `faceanon batch` was asked to do (besides the face settings)."""

    input_dir: Path
    output_dir: Path
    workers: int | None = None  # None: as many as the executor can keep busy
    patterns: tuple[str, ...] = ()
    overwrite: bool = False
    reports: bool = False
    segment_seconds: float | None = None
    ray: str | None = None
    gpus: int = 0
    quiet: bool = False


@dataclass(frozen=True)
class BatchOutcome:
    """How the batch ended, over every media file it covers (finished earlier or now)."""

    files: int
    done: int
    failed: int
    processed: int  # finished by this run
    kept: int  # already complete before this run
    not_media: int
    filtered: int
    resumed: int  # left running by a killed run, redone by this one
    report: Path


def check_folders(input_dir: Path, output_dir: Path) -> None:
    """Refuse what cannot work, with one clear line (exit status 2)."""
    if not input_dir.exists():
        raise InputError(f"{input_dir}: no such folder")
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: not a folder (batch takes a folder; see `faceanon video`)")
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"{output_dir} is a file; the output must be a folder")
    source, target = input_dir.resolve(), output_dir.resolve()
    if source == target:
        raise InputError("the output folder must differ from the input folder")
    if target in source.parents:
        raise InputError(
            f"the input folder lies inside the output folder {output_dir}; choose another output"
        )


def run_batch(options: BatchOptions, settings: RunSettings) -> BatchOutcome:
    """The whole batch: plan, run what is left, write the summary."""
    check_folders(options.input_dir, options.output_dir)
    out = options.output_dir
    make_folder(out)
    check_writable_folder(out)
    with _locked(out), Manifest(out / MANIFEST_NAME) as manifest:
        resumed = manifest.recover()
        remove_leftovers(out)
        _note_settings(manifest, settings, options.overwrite)
        discovery, todo, kept = _plan(options, manifest)
        processed = 0
        if todo:
            executor = _executor(options, settings)
            try:
                processed = _Run(manifest, executor, options, settings, len(todo)).run(todo)
            finally:
                executor.close()
        records = [r for f in discovery.files if (r := manifest.file(f.rel)) is not None]
    extra = {
        "input_dir": str(options.input_dir),
        "output_dir": str(out),
        "not_media": list(discovery.not_media),
        "filtered_out": discovery.filtered,
        "resumed": resumed,
    }
    report, _ = write_summary(out, records, settings.as_report(), extra)
    return BatchOutcome(
        files=len(records),
        done=sum(r.state == DONE for r in records),
        failed=sum(r.state == FAILED for r in records),
        processed=processed,
        kept=kept,
        not_media=len(discovery.not_media),
        filtered=discovery.filtered,
        resumed=resumed,
        report=report,
    )


def remove_leftovers(folder: Path) -> int:
    """Delete temporary files a killed run left in the output tree; return how many."""
    removed = 0
    for here, _, names in os.walk(folder):
        for name in names:
            if _LEFTOVER.match(name):
                Path(here, name).unlink(missing_ok=True)
                removed += 1
    return removed


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise InputError(f"another faceanon batch is writing to {folder}") from error
        yield


def _note_settings(manifest: Manifest, settings: RunSettings, overwrite: bool) -> None:
    # What shapes the outputs; the detector thread count does not.
    now = json.dumps(replace(settings, detect_threads=None).as_report(), sort_keys=True)
    before = manifest.meta("settings")
    if before is not None and before != now and not overwrite:
        log.warning(
            "the settings differ from the earlier run into this folder; files it finished are "
            "kept as they are (add --overwrite to redo them)"
        )
    manifest.set_meta("settings", now)


def _plan(
    options: BatchOptions, manifest: Manifest
) -> tuple[Discovery, list[tuple[MediaFile, Placement]], int]:
    """Find the media, place the outputs, and pick the files still to do."""
    records = manifest.files()
    source, out = options.input_dir.resolve(), options.output_dir.resolve()
    exclude = out if source in out.parents else None
    known = {
        rel: (r.size, r.mtime_ns, r.kind, None)
        for rel, r in records.items()
        if r.size is not None and r.mtime_ns is not None
    }
    discovery = discover(options.input_dir, exclude, options.patterns, known)
    previous = {rel: (r.output, r.note) for rel, r in records.items()}
    placements = place(discovery.files, previous)
    todo = []
    kept = 0
    for file, placement in zip(discovery.files, placements, strict=True):
        record = records.get(file.rel)
        target = options.output_dir / placement.output
        if not options.overwrite and _finished(manifest, file, placement, record, target):
            kept += 1
        elif not options.overwrite and record is None and target.exists():
            manifest.plan(file, placement, DONE)
            manifest.keep(file.rel, f"{placement.output} was already there; kept as it is")
            kept += 1
        else:
            manifest.plan(file, placement, PENDING)
            todo.append((file, placement))
    return discovery, todo, kept


def _finished(
    manifest: Manifest,
    file: MediaFile,
    placement: Placement,
    record: FileRecord | None,
    target: Path,
) -> bool:
    """Done before, to the same output, which is still there, from the same content."""
    if record is None or record.state != DONE or record.output != placement.output:
        return False
    if not target.exists():
        return False
    if (record.size, record.mtime_ns) == (file.size, file.mtime_ns):
        return True
    if record.hash is None or content_hash(file.path) != record.hash:
        return False
    manifest.plan(file, placement, DONE)  # touched but unchanged: remember the new stat
    return True


def _executor(options: BatchOptions, settings: RunSettings):
    if options.ray:
        from .rayexec import RayExecutor

        return RayExecutor(options.ray, options.workers, settings, gpus=options.gpus > 0)
    from .local import LocalExecutor

    return LocalExecutor(options.workers or 1, settings, options.gpus)


class _Run:
    """One pass over the files still to do: a queue of jobs, at most `slots` in flight."""

    def __init__(
        self,
        manifest: Manifest,
        executor,
        options: BatchOptions,
        settings: RunSettings,
        total: int,
    ) -> None:
        self.manifest = manifest
        self.executor = executor
        self.options = options
        self.settings = settings
        self.queue: deque[Job] = deque()
        self.in_flight: dict[tuple[str, int | None], Job] = {}
        self.started: set[str] = set()
        self.given_up: set[str] = set()
        self.retried: set[tuple[str, int | None]] = set()
        self.finished = 0
        self.bar = tqdm(
            total=total,
            unit="file",
            desc="batch",
            disable=options.quiet,
            dynamic_ncols=True,
            file=sys.stderr,
        )

    def run(self, todo: list[tuple[MediaFile, Placement]]) -> int:
        try:
            for file, placement in todo:
                self._enqueue(file, placement)
            while self.queue or self.in_flight:
                while self.queue and len(self.in_flight) < self.executor.slots:
                    self._submit(self.queue.popleft())
                if self.in_flight:
                    for result in self.executor.wait():
                        self._record(result)
        finally:
            self.bar.close()
        return self.finished

    def _enqueue(self, file: MediaFile, placement: Placement) -> None:
        out = self.options.output_dir
        target = out / placement.output
        make_folder(target.parent)
        report = target.with_name(target.name + REPORT_SUFFIX) if self.options.reports else None
        seconds = self.options.segment_seconds
        if file.kind == "video" and seconds:
            try:
                spans = plan_spans(file.path, seconds)
            except (FaceanonError, av.error.FFmpegError, OSError) as error:
                self._fail(file.rel, one_line(error))
                return
            if len(spans) > 1:
                self._enqueue_parts(file, placement, spans)
                return
        self.queue.append(FileJob(file.rel, file.kind, file.path, target, report))

    def _enqueue_parts(self, file: MediaFile, placement: Placement, spans) -> None:
        """Queue the parts still to do; parts a killed run finished are kept when the input,
        its cut points and their files are unchanged."""
        digest = content_hash(file.path)
        before = self.manifest.file(file.rel)
        folder = self._parts_folder(file.rel)
        suffix = Path(placement.output).suffix
        names = [f"{PARTS_FOLDER}/{folder.name}/part-{i:04d}{suffix}" for i in range(len(spans))]
        wanted = [(s, e, n) for (s, e), n in zip(spans, names, strict=True)]
        parts = self.manifest.parts(file.rel)
        reusable = (
            not self.options.overwrite
            and before is not None
            and before.hash == digest
            and [(p.start_pts, p.end_pts, p.path) for p in parts] == wanted
        )
        if not reusable:
            shutil.rmtree(folder, ignore_errors=True)
            self.manifest.set_parts(file.rel, wanted)
            parts = self.manifest.parts(file.rel)
        self.manifest.set_hash(file.rel, digest)
        folder.mkdir(parents=True, exist_ok=True)
        for part in parts:
            path = self.options.output_dir / part.path
            if part.state == DONE and (path.exists() or part.figures.frames == 0):
                continue
            self.queue.append(
                PartJob(file.rel, part.part, file.path, path, part.start_pts, part.end_pts)
            )
        if not any(j.rel == file.rel for j in self.queue):
            self._join(file.rel)  # every part was finished by a killed run

    def _parts_folder(self, rel: str) -> Path:
        key = hashlib.blake2b(rel.encode(), digest_size=8).hexdigest()
        return self.options.output_dir / PARTS_FOLDER / key

    def _submit(self, job: Job) -> None:
        if job.rel in self.given_up:
            return
        if job.rel not in self.started:
            self.started.add(job.rel)
            parts = len(self.manifest.parts(job.rel)) if isinstance(job, PartJob) else 1
            self.manifest.start(job.rel, parts)
        if isinstance(job, PartJob):
            self.manifest.start_part(job.rel, job.part)
        self.in_flight[job.key] = job
        self.executor.submit(job)
        self.bar.set_postfix_str(f"{len(self.in_flight)} running", refresh=True)

    def _record(self, result: JobResult) -> None:
        job = self.in_flight.pop(result.key)
        if not result.ok:
            _remove_temporaries(job.output)
        if result.lost and result.key not in self.retried:
            self.retried.add(result.key)
            self._status(f"retry  {job.rel}: {result.reason}")
            self.queue.appendleft(job)
            return
        if isinstance(job, PartJob):
            self._record_part(job, result)
        elif result.ok:
            self.manifest.finish(job.rel, result.figures, result.hash)
            self._done(job.rel, result.figures)
        else:
            self._fail(job.rel, result.reason or "failed", result.hash)

    def _record_part(self, job: PartJob, result: JobResult) -> None:
        if job.rel in self.given_up:
            return
        if not result.ok:
            self.manifest.fail_part(job.rel, job.part, result.reason or "failed")
            self._fail(job.rel, f"part {job.part + 1}: {result.reason}")
            return
        tally = tally_to_json(result.tally) if result.tally is not None else None
        self.manifest.finish_part(job.rel, job.part, result.figures, tally)
        waiting = any(j.rel == job.rel for j in (*self.queue, *self.in_flight.values()))
        if not waiting:
            self._join(job.rel)

    def _join(self, rel: str) -> None:
        """Join a file's finished parts into its output, with the source's audio."""
        record = self.manifest.file(rel)
        assert record is not None
        out = self.options.output_dir
        parts = self.manifest.parts(rel)
        figures = Figures()
        for part in parts:
            figures = figures.plus(part.figures)
        files = [out / p.path for p in parts if p.figures.frames > 0]
        target = out / record.output
        try:
            packets = join_parts(files, target, self.options.input_dir / rel)
            if packets != figures.frames:
                raise FaceanonError(f"joined {packets} frames of the {figures.frames} encoded")
            if self.options.reports:
                tallies = [tally_from_json(p.tally) for p in parts if p.tally]
                write_report(
                    target.with_name(target.name + REPORT_SUFFIX),
                    "batch",
                    self.settings.as_report(),
                    [{"input": str(self.options.input_dir / rel), "output": str(target)}],
                    merge_tallies(tallies),
                    {"parts": len(parts)},
                )
        except (FaceanonError, av.error.FFmpegError, OSError) as error:
            self._fail(rel, f"joining the parts: {one_line(error)}")
            return
        self.manifest.finish(rel, figures, None)
        self.manifest.drop_parts(rel)
        shutil.rmtree(self._parts_folder(rel), ignore_errors=True)
        with suppress(OSError):
            (out / PARTS_FOLDER).rmdir()  # when no other file's parts are left in it
        self._done(rel, figures)

    def _done(self, rel: str, figures: Figures) -> None:
        record = self.manifest.file(rel)
        output = record.output if record else "?"
        self.finished += 1
        self._status(
            f"done   {rel} → {output}: {figures.frames} frame(s), {figures.faces} face(s) "
            f"({figures.swapped} swapped, {figures.blurred} blurred), {figures.seconds:.1f} s"
        )
        self.bar.update(1)

    def _fail(self, rel: str, reason: str, digest: str | None = None) -> None:
        self.given_up.add(rel)
        self.manifest.fail(rel, reason, digest)
        self._status(f"failed {rel}: {reason}")
        self.bar.update(1)

    def _status(self, line: str) -> None:
        self.bar.set_postfix_str(f"{len(self.in_flight)} running", refresh=False)
        if not self.options.quiet:
            self.bar.write(line, file=sys.stderr)


def _remove_temporaries(output: Path) -> None:
    """Delete what a failed or killed job left of its output's temporary files."""
    folder = output.parent
    if folder.is_dir():
        for path in folder.glob(f".{output.stem}.*.partial{output.suffix}"):
            if _LEFTOVER.match(path.name):
                path.unlink(missing_ok=True)
