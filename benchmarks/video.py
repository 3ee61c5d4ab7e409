"""Video speed: faceanon end to end against plain PyAV decode + encode of the same clip.

    .venv/bin/python benchmarks/video.py [CLIP] [--mode swap|blur] [--seconds S] [--detect-every N]
        [--min-face PX] [--group-clip] [--detector KIND]

Three runs on one clip, in this order, in one process:
  ceiling   plain PyAV: decode, encode with the sink's x264 settings (yuv420p in and out, no
            conversion, no audio): the fastest any tool built on FFmpeg can be here;
  i/o       faceanon's VideoFileSource → VideoFileSink with no face work (BGR conversion,
            rotation, audio copy, reader and writer threads);
  faceanon  `anonymize_video` end to end with the chosen mode.
`--group-clip` measures a 1280×720, four-face clip made here from the shipped synthetic
`samples/group.png` (a slow zoom and pan, 25 fps, `--seconds` long, default 4) instead of CLIP.
`--seconds` first cuts the clip (packets copied, no re-encoding) to keep the run short. Also
printed: how often a tracked face switched between swapped and covered from one frame to the next
(a face flashing). Stage shares are each stage's time over the end-to-end wall time; detection runs
in its own threads (several frames at once, so its share can pass 100 %), decoding and encoding in
theirs, all overlapping the face work on the main thread.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.detect import DEFAULT_KIND, KINDS
from pipeline.errors import WeightsError
from stream.bench import ceiling
from stream.build import (
    STREAM_MIN_FACE_FRACTION,
    VIDEO_DETECT_EVERY,
    RunSettings,
    build_pipeline,
)
from stream.concurrency import run_pipelined
from stream.video_io import VideoFileSink, VideoFileSource
from stream.videojob import anonymize_video

GROUP_SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "group.png"
DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "hamilton_640x360.mp4"


def cut(source: Path, seconds: float | None, folder: Path) -> Path:
    """The first `seconds` of `source` as a new file (packets copied), or `source` itself."""
    if seconds is None:
        return source
    target = folder / f"cut{source.suffix}"
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        streams = [s for s in reader.streams if s.type in ("video", "audio")]
        routes = {s.index: writer.add_stream_from_template(s) for s in streams}
        starts = {s.index: s.start_time or 0 for s in streams}
        for packet in reader.demux(*streams):
            if packet.dts is None or packet.time_base is None:
                continue
            if (packet.dts - starts[packet.stream.index]) * packet.time_base > seconds:
                continue
            packet.stream = routes[packet.stream.index]
            writer.mux(packet)
    return target


def group_clip(folder: Path, seconds: float) -> Path:
    """samples/group.png (1280×720, four synthetic faces) slowly zoomed and panned, H.264."""
    image = cv2.imread(str(GROUP_SAMPLE))
    height, width = image.shape[:2]
    target = folder / "group.mp4"
    frames = round(seconds * 25)
    with av.open(str(target), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            t = i / max(1, frames - 1)
            zoom = 1.0 + 0.08 * t
            shift = (40 * t - 20, 10 * np.sin(2 * np.pi * t))
            matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.0, zoom)
            matrix[:, 2] += shift
            moved = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
            frame = av.VideoFrame.from_ndarray(moved, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return target


def io_only(source: Path, output: Path) -> tuple[int, float]:
    """faceanon's source and sink with no face work; (frames, seconds)."""
    started = time.perf_counter()
    with VideoFileSource(source) as frames, VideoFileSink(output, frames.info, source) as sink:
        count = run_pipelined(frames, lambda frame: frame, sink.write)
    return count, time.perf_counter() - started


def pipeline_for(mode: str, detect_every: int, min_face: int | None, detector: str):
    settings = RunSettings(
        mode=mode,
        detect_every=detect_every,
        min_face=min_face,
        min_face_fraction=STREAM_MIN_FACE_FRACTION,  # as `faceanon video`
        detector=detector,
    )
    try:
        return settings, build_pipeline(settings, video=True, identity_worker=True)
    except WeightsError as error:
        if mode == "blur":
            raise
        print(f"note: {error}; measuring --mode blur instead")
        settings = replace(settings, mode="blur")
        return settings, build_pipeline(settings, video=True, identity_worker=True)


class SwitchCounter:
    """Wraps a pipeline's `process` to count how often a tracked face goes from swapped to
    covered or back from one frame to the next (a face flashing between the two)."""

    def __init__(self, pipeline) -> None:
        self.switches = 0
        self._last: dict[int, str] = {}
        self._process = pipeline.process
        pipeline.process = self

    def __call__(self, *args, **kwargs):
        result = self._process(*args, **kwargs)
        for outcome in result.faces:
            track, action = outcome.face.track_id, outcome.action.name
            if track is not None:
                self.switches += self._last.get(track, action) != action
                self._last[track] = action
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path, nargs="?", default=DEFAULT_CLIP)
    parser.add_argument("--mode", choices=("swap", "blur"), default="swap")
    parser.add_argument("--seconds", type=float, default=None, help="measure the first S only")
    parser.add_argument("--detect-every", type=int, default=VIDEO_DETECT_EVERY)
    parser.add_argument("--min-face", type=int, default=None, help="default: the pipeline's")
    parser.add_argument("--group-clip", action="store_true", help="1280×720 four-face clip")
    parser.add_argument("--detector", choices=KINDS, default=DEFAULT_KIND)
    args = parser.parse_args()
    if not args.group_clip and not args.clip.is_file():
        print(f"skipped: no clip at {args.clip} (shared media, not part of the repository)")
        return

    settings, pipeline = pipeline_for(args.mode, args.detect_every, args.min_face, args.detector)
    with tempfile.TemporaryDirectory() as folder:
        if args.group_clip:
            clip = group_clip(Path(folder), args.seconds or 4.0)
        else:
            clip = cut(args.clip, args.seconds, Path(folder))
        plain_frames, plain_seconds = ceiling(clip, Path(folder) / "ceiling.mp4")
        io_frames, io_seconds = io_only(clip, Path(folder) / "io.mp4")
        switches = SwitchCounter(pipeline)
        try:
            run = anonymize_video(clip, Path(folder) / "anon.mp4", pipeline, quiet=True)
        finally:
            pipeline.close()  # the identity worker

    plain_fps = plain_frames / plain_seconds
    io_fps = io_frames / io_seconds
    anon_fps = run.frames / run.seconds
    size = f"{run.info['width']}×{run.info['height']}"
    name = "samples/group.png, zoomed and panned" if args.group_clip else args.clip.name
    print(f"clip: {name}, {size}, {run.frames} frames")
    print(
        f"mode: {settings.mode}, detect every {settings.detect_every} frame(s), smallest face "
        f"{pipeline.detector.min_face_for(run.info['height'], run.info['width'])} px"
    )
    print(f"{'run':<10}{'frames':>8}{'seconds':>10}{'fps':>9}")
    for name, frames, seconds in (
        ("ceiling", plain_frames, plain_seconds),
        ("i/o", io_frames, io_seconds),
        ("faceanon", run.frames, run.seconds),
    ):
        print(f"{name:<10}{frames:>8}{seconds:>10.2f}{frames / seconds:>9.1f}")
    print(
        f"i/o / ceiling: {io_fps / plain_fps:.2f}; faceanon / ceiling: {anon_fps / plain_fps:.3f}"
    )
    tally = run.tally
    print(
        f"faces: {tally.faces} found, {tally.swapped} swapped, {tally.blurred} covered "
        f"in {tally.frames} frames; a tracked face switched between swapped and covered from "
        f"one frame to the next {switches.switches} times"
    )
    consulted = getattr(pipeline.classifier, "consulted", None)
    if consulted is not None:
        print(f"classifier's second opinion asked about {consulted} faces")
    print("stage shares of the end-to-end time:")
    for stage, spent in sorted(tally.seconds.items(), key=lambda item: -item[1]):
        print(
            f"  {stage:<12}{spent / run.seconds:>7.1%}  {spent / run.frames * 1000:>7.2f} ms/frame"
        )
    rest = run.seconds - sum(tally.seconds.values())
    print(f"  {'other':<12}{rest / run.seconds:>7.1%}  (wall time less the stages; negative")
    print(f"  {'':<12}{'':>7}  where detection threads overlap the face work)")


if __name__ == "__main__":
    main()
