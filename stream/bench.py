"""`faceanon bench`: speed figures on the shipped samples, each beside a baseline measured in
the same run, so the ratios hold on any machine.

- images: per-stage milliseconds on a 1280×720 photo with four faces, swap mode against blur
  mode (detection and the fail-closed cover only);
- video: frames per second of `faceanon video` against a plain PyAV decode + x264 encode of the
  same clip (the ceiling any FFmpeg-based tool has here).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import av

from .build import STREAM_MIN_FACE_FRACTION, VIDEO_DETECT_EVERY, RunSettings, build_pipeline
from .images import read_image
from .video_io import ENCODER, ENCODER_OPTIONS
from .videojob import anonymize_video


@dataclass(frozen=True)
class ImageFigures:
    """Median per-stage milliseconds of one photo, and the median total."""

    stages_ms: dict[str, float]
    total_ms: float
    faces: int


def time_image(path: Path, settings: RunSettings, repeats: int = 5) -> ImageFigures:
    """Process one photo `repeats` times (after a warm-up) and take medians."""
    pipeline = build_pipeline(settings)
    frame = read_image(path).bgr
    pipeline.process(frame)
    totals, stages, faces = [], {}, 0
    for _ in range(repeats):
        started = time.perf_counter()
        result = pipeline.process(frame)
        totals.append(time.perf_counter() - started)
        faces = len(result.faces)
        for stage, seconds in result.timings.items():
            stages.setdefault(stage, []).append(seconds)
    return ImageFigures(
        stages_ms={k: statistics.median(v) * 1000 for k, v in stages.items()},
        total_ms=statistics.median(totals) * 1000,
        faces=faces,
    )


def ceiling(source: Path, output: Path) -> tuple[int, float]:
    """Plain PyAV decode + x264 encode with the sink's settings; (frames, seconds)."""
    started = time.perf_counter()
    frames = 0
    with av.open(str(source)) as reader, av.open(str(output), "w") as writer:
        inbound = reader.streams.video[0]
        inbound.thread_type = "AUTO"
        outbound = writer.add_stream(ENCODER, rate=inbound.average_rate, options=ENCODER_OPTIONS)
        outbound.width, outbound.height = inbound.codec_context.width, inbound.codec_context.height
        outbound.pix_fmt = "yuv420p"
        for frame in reader.decode(inbound):
            frame.pict_type = 0  # let the encoder choose
            writer.mux(outbound.encode(frame))
            frames += 1
        writer.mux(outbound.encode(None))
    return frames, time.perf_counter() - started


def video_fps(clip: Path, settings: RunSettings) -> tuple[float, float, int]:
    """(faceanon fps, ceiling fps, frames) on one clip, measured back to back."""
    pipeline = build_pipeline(settings, video=True, identity_worker=True)  # as `faceanon video`
    with tempfile.TemporaryDirectory() as folder:
        frames, seconds = ceiling(clip, Path(folder) / "ceiling.mp4")
        run = anonymize_video(clip, Path(folder) / "anon.mp4", pipeline, quiet=True)
    return run.frames / run.seconds, frames / seconds, run.frames


def run_bench(samples: Path, settings: RunSettings) -> list[str]:
    """The report lines of a bench run on the shipped samples."""
    lines = []
    group = samples / "group.png"
    swap = time_image(group, settings)
    blur = time_image(group, RunSettings(mode="blur", device=settings.device))
    lines.append(f"image {group.name}, {swap.faces} faces (median of 5, ms)")
    lines.append(f"  {'stage':<12}{'swap':>9}{'blur':>9}")
    for stage in sorted(set(swap.stages_ms) | set(blur.stages_ms)):
        mine, base = swap.stages_ms.get(stage), blur.stages_ms.get(stage)
        lines.append(f"  {stage:<12}{_ms(mine):>9}{_ms(base):>9}")
    lines.append(
        f"  {'total':<12}{swap.total_ms:>9.1f}{blur.total_ms:>9.1f}   "
        f"swap / blur: {swap.total_ms / blur.total_ms:.2f}×"
    )
    clip = samples / "clip.mp4"
    ours, plain, frames = video_fps(
        clip,
        # as `faceanon video` does by default
        replace(
            settings,
            min_face_fraction=STREAM_MIN_FACE_FRACTION,
            detect_every=VIDEO_DETECT_EVERY,
        ),
    )
    lines.append(f"video {clip.name}, {frames} frames")
    lines.append(f"  faceanon {ours:.1f} fps, plain decode+encode {plain:.1f} fps")
    lines.append(f"  faceanon / ceiling: {ours / plain:.2f}")
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
