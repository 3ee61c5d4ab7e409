"""`faceanon webcam`: live preview of the anonymized stream, with the similarity readout.

The capture runs in its own thread and keeps only the newest frame, so when the face work is
slower than the camera, stale frames are dropped instead of queued and latency stays bounded.
Only processed frames are ever shown or recorded: until the pipeline has produced the first
one, the window stays empty. The side-by-side view (key `s`) puts the original beside the
result in the local window only; it is never recorded.

Keys: q or Esc quit, space pause, o overlay on/off, s side-by-side. Ctrl-C stops too, and
like the keys it keeps what was recorded so far.
"""

from __future__ import annotations

import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from pipeline.facepipeline import FacePipeline

from .camera import CameraSource
from .frame import Frame
from .overlay import Readout
from .report import Tally
from .video_io import VideoFileSink, VideoInfo

WINDOW = "faceanon"
CLOCK = Fraction(1, 1000)  # recorded timestamps: milliseconds since the first frame


@dataclass
class LiveStats:
    """What a live session measured."""

    tally: Tally = field(default_factory=Tally)
    latencies_ms: list[float] = field(default_factory=list)
    dropped: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.tally.frames / self.seconds if self.seconds else 0.0

    def summary(self) -> dict:
        latencies = self.latencies_ms
        return {
            "frames": self.tally.frames,
            "seconds": round(self.seconds, 2),
            "fps": round(self.fps, 2),
            "dropped_frames": self.dropped,
            "latency_ms_median": round(statistics.median(latencies), 1) if latencies else None,
            "latency_ms_p95": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
            "latency_ms_max": round(max(latencies), 1) if latencies else None,
        }


@dataclass
class _View:
    overlay: bool = True
    side_by_side: bool = False
    paused: bool = False


def run_live(
    spec: str,
    pipeline: FacePipeline,
    headless: bool = False,
    max_frames: int | None = None,
    record: Path | None = None,
    realtime: bool = True,
    quiet: bool = False,
    identity: bool = True,
    verbose: bool = False,
) -> LiveStats:
    """Capture, anonymize and show (or just process, if headless) until stopped. `identity`:
    the pipeline measures identity (the readout waits for it); `verbose`: the readout adds the
    identity distance and its threshold."""
    stats = LiveStats()
    mode = getattr(getattr(pipeline, "swapper", None), "identity", None)
    readout = Readout(
        identity=identity, verbose=verbose, identity_mode=mode.label if mode is not None else None
    )
    view = _View()
    sink = None
    first_time: float | None = None
    shown = False
    started = time.monotonic()
    last_status = started
    fps = _Rate()
    with ExitStack() as stack:
        camera = stack.enter_context(CameraSource(spec, realtime=realtime, latest_only=True))
        try:
            for frame in camera:
                captured = frame.captured if frame.captured is not None else time.monotonic()
                result = pipeline.process(frame.image)
                stats.tally.add(result)
                readout.remember(result)
                if record is not None:
                    # a file source's own timing, else the capture clock
                    stamp = frame.time if frame.time is not None else captured
                    if sink is None:
                        sink = stack.enter_context(_recording(record, result.image, camera.fps))
                        first_time = stamp
                    pts = round((stamp - first_time) / CLOCK)
                    sink.write(Frame(result.image, frame.index, pts, CLOCK))
                rate = fps.tick()
                latency = (time.monotonic() - captured) * 1000
                stats.latencies_ms.append(latency)
                if not headless:
                    image = result.image
                    if view.overlay:
                        image = readout.draw(image, result, rate, latency)
                    if view.side_by_side:
                        original = np.zeros_like(image)  # as tall as a readout band below
                        original[: frame.image.shape[0]] = frame.image
                        image = np.hstack([original, image])
                    cv2.imshow(WINDOW, image)
                    shown = True
                    if not _handle_keys(view):
                        break
                elif not quiet and time.monotonic() - last_status >= 1.0:
                    last_status = time.monotonic()
                    print(
                        f"faceanon: frame {stats.tally.frames}, {rate:.1f} fps, latency "
                        f"{latency:.0f} ms, faces {len(result.faces)} ({result.swapped} swapped, "
                        f"{result.blurred} covered), dropped {camera.dropped}",
                        file=sys.stderr,
                        flush=True,
                    )
                if max_frames is not None and stats.tally.frames >= max_frames:
                    break
        except KeyboardInterrupt:  # Ctrl-C is how a headless session is stopped
            if not quiet:
                print("faceanon: stopped", file=sys.stderr, flush=True)
        finally:
            stats.dropped = camera.dropped
            stats.seconds = time.monotonic() - started
            if shown:
                cv2.destroyWindow(WINDOW)
    return stats


def _recording(path: Path, first: np.ndarray, fps: float) -> VideoFileSink:
    height, width = first.shape[:2]
    rate = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(30)
    info = VideoInfo(
        width=width,
        height=height,
        average_rate=rate,
        time_base=CLOCK,
        frames=None,
        duration=None,
        rotation=0,
        codec="h264",
        audio_streams=0,
    )
    return VideoFileSink(path, info)


def _handle_keys(view: _View) -> bool:
    """React to keys; False when the user asked to quit. Waits here while paused."""
    while True:
        key = cv2.waitKey(1 if not view.paused else 50) & 0xFF
        if key in (ord("q"), 27):
            return False
        if key == ord(" "):
            view.paused = not view.paused
        elif key == ord("o"):
            view.overlay = not view.overlay
        elif key == ord("s"):
            view.side_by_side = not view.side_by_side
        if not view.paused:
            return True


class _Rate:
    """Frames per second, smoothed."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.value = 0.0

    def tick(self) -> float:
        now = time.monotonic()
        if self.last is not None:
            instant = 1.0 / max(now - self.last, 1e-6)
            self.value = instant if self.value == 0 else 0.9 * self.value + 0.1 * instant
        self.last = now
        return self.value
