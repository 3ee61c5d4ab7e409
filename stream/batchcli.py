"""`faceanon batch IN_DIR -o OUT_DIR`: anonymize CCTV folders, resumably, on many workers."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

from .batch.driver import BatchOptions, check_folders, run_batch
from .build import BATCH_NO_FACE, FILE_FRAME_LIMIT, RunSettings
from .options import common_options, detect_every_option, frame_limit_option, no_face_option


def default_workers(device: str) -> tuple[int, int]:
    """(workers, GPUs): one worker per GPU when CUDA serves the models, else half the cores."""
    if device != "cpu":
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            return count, count
    return max(1, (os.cpu_count() or 2) // 2), 0


@click.command()
@click.argument("input_dir", metavar="IN_DIR", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder: mirrors IN_DIR's tree; holds the manifest and the batch reports.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    default=None,
    help="Files processed at once (default: half the CPU cores, or one per GPU; with --ray: "
    "half the cluster's CPUs, or one per GPU).",
)
@click.option(
    "--glob",
    "patterns",
    multiple=True,
    metavar="PATTERN",
    help="Only files whose path below IN_DIR matches (fnmatch; `*` crosses folders, e.g. "
    "'cam1/*' or '*.avi'). Repeat for several.",
)
@click.option("--overwrite", is_flag=True, help="Redo files that are already complete.")
@click.option("--reports", is_flag=True, help="Also write a JSON report beside each output.")
@click.option(
    "--segment-seconds",
    type=click.FloatRange(min=1.0),
    default=None,
    metavar="S",
    help="Split videos longer than S seconds into parts processed independently (by any "
    "worker) and joined without re-encoding.",
)
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Run on a Ray cluster: its address, 'auto' (the cluster this machine is in) or "
    "'local' (a private Ray instance on this machine). Needs faceanon[ray].",
)
@detect_every_option(1)
@frame_limit_option(FILE_FRAME_LIMIT)
@no_face_option(BATCH_NO_FACE)
@common_options
def batch(
    input_dir: Path,
    output_dir: Path,
    workers: int | None,
    patterns: tuple[str, ...],
    overwrite: bool,
    reports: bool,
    segment_seconds: float | None,
    ray_address: str | None,
    detect_every: int,
    frame_limit: float,
    no_face: str,
    settings: RunSettings,
    report: Path | None,
    quiet: bool,
) -> None:
    """Anonymize every video and image below IN_DIR into OUT_DIR (same folder tree).

    Files are found by content; the run is resumable: re-run the same command after an
    interruption and only what is unfinished is done. Exit status 1 when any file failed
    (see OUT_DIR/batch-report.csv for the reasons).
    """
    check_folders(input_dir, output_dir)
    gpus = 0
    if ray_address is None and workers is None:
        workers, gpus = default_workers(settings.device)
    elif ray_address is None and settings.device != "cpu":
        gpus = default_workers(settings.device)[1]
    options = BatchOptions(
        input_dir=input_dir,
        output_dir=output_dir,
        workers=workers,
        patterns=patterns,
        overwrite=overwrite,
        reports=reports,
        segment_seconds=segment_seconds,
        ray=ray_address,
        gpus=gpus if ray_address is None else int(settings.device != "cpu"),
        quiet=quiet,
    )
    # Local workers share this machine's cores: the detector threads of each get their share
    # (a lone worker scans two frames at once; two workers on two cores one each).
    threads = max(1, (os.cpu_count() or 2) // workers) if ray_address is None and workers else None
    settings = replace(
        settings,
        detect_every=detect_every,
        detect_threads=threads,
        frame_limit=frame_limit,
        no_face=no_face,
    )
    outcome = run_batch(options, settings)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(outcome.report.read_text())
    if not quiet:
        click.echo(
            f"faceanon: {outcome.files} file(s): {outcome.done} done ({outcome.processed} now, "
            f"{outcome.kept} already), {outcome.failed} failed, {outcome.not_media} not media "
            f"→ {output_dir} (report: {outcome.report.name})"
        )
    if outcome.failed:
        raise click.exceptions.Exit(1)
