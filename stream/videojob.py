"""`faceanon video`: one recorded file in, one anonymized file out, audio and timing kept."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.device import torch_threads
from pipeline.errors import InputError
from pipeline.facepipeline import FacePipeline
from pipeline.prefetch import DetectAhead, Slot

from .atomic import check_writable_folder, make_folder, same_file
from .concurrency import run_pipelined
from .frame import Frame
from .report import Tally
from .video_io import OUTPUT_FORMATS, VideoFileSink, VideoFileSource

VIDEO_SUFFIXES = tuple(OUTPUT_FORMATS)
# Detector threads: consecutive frames are scanned at once (dlib releases the GIL), up to one
# per core beside the face work, at least two (2 cores, 640×360 one-face clip: 8.8 → 12.2 fps).
DETECT_WORKERS = max(2, min(4, (os.cpu_count() or 1) - 1))


@dataclass(frozen=True)
class VideoRun:
    """What one file took: totals, wall time and the source's description."""

    tally: Tally
    seconds: float
    frames: int
    info: dict


def check_video_output(source: Path, output: Path) -> None:
    """Refuse writing over the input or to an unsupported container; make the folder."""
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"cannot write {output.name}: choose {', '.join(VIDEO_SUFFIXES)}")
    if source.resolve() == output.resolve() or same_file(source, output):
        raise InputError(f"refusing to write over the input {source}; choose another output")
    make_folder(output.parent)
    check_writable_folder(output.parent)


def anonymize_video(
    source: Path,
    output: Path,
    pipeline: FacePipeline,
    quiet: bool = False,
    progress_position: int = 0,
    detect_workers: int | None = None,
) -> VideoRun:
    """Decode, anonymize every frame, re-encode with the source's timing and audio;
    `detect_workers` detector threads (default `DETECT_WORKERS`)."""
    tally = Tally()
    started = time.perf_counter()
    with VideoFileSource(source) as frames:
        info = frames.info
        bar = tqdm(
            total=info.estimated_frames,
            unit="frame",
            desc=source.name,
            disable=quiet,
            position=progress_position,
            leave=not quiet,
            dynamic_ncols=True,
        )

        def process(slot: Slot[Frame]) -> Frame:
            frame = slot.item
            result = pipeline.process(frame.image, *slot.results())
            tally.add(result)
            return frame.with_image(result.image)

        def count(*_: object) -> None:
            bar.update(1)

        # The detector runs in its own threads on the frames the reader has queued, ahead of
        # the face work on this one; frames between two detection frames wait for the second
        # one's detection, so faces it finds are covered from their first frame.
        ahead = DetectAhead(
            frames,
            pipeline.detector,
            _image,
            pipeline.detect_every,
            workers=detect_workers or DETECT_WORKERS,
        )
        with VideoFileSink(output, info, audio_from=source) as sink, torch_threads(1):
            done = run_pipelined(ahead, process, sink.write, on_item=count)
        if bar.total != done:  # the container's count was off (e.g. AVI counting fields)
            bar.total = done
            bar.refresh()
        bar.close()
    return VideoRun(
        tally=tally, seconds=time.perf_counter() - started, frames=done, info=_describe(info)
    )


def _image(frame: Frame) -> np.ndarray:
    return frame.image


def video_report(run: VideoRun, source: Path, output: Path) -> dict:
    """The per-file record of a report."""
    summary = run.tally.summary()
    return {
        "input": str(source),
        "output": str(output),
        "source": run.info,
        "seconds": round(run.seconds, 2),
        "fps": round(run.frames / run.seconds, 2) if run.seconds else None,
        **summary,
    }


def _describe(info) -> dict:
    fields = (
        "width",
        "height",
        "average_rate",
        "frames",
        "duration",
        "rotation",
        "codec",
        "audio_streams",
    )
    return {name: _plain(getattr(info, name, None)) for name in fields}


def _plain(value):
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)
