"""Webcam mode: capture-to-display latency and frame rate, as `faceanon webcam` runs.

    .venv/bin/python benchmarks/webcam.py [--seconds 10] [--size 640x480] [--fps 30]

No camera is needed: a clip of a synthetic face (drawn from the project's latent model, about
150 px across, drifting and turning) is written here and played as a camera would deliver it,
in real time, newest frame only (stale frames dropped). Each run is `run_live` headless:
  swap      the default pipeline of `faceanon webcam`;
  blur      `--mode blur`, the same detection and tracking without classifier and swap;
  capture   no face work at all: the latency floor of the capture loop itself.
Each pipeline is warmed up first (models loaded, first network calls made). Latency is
measured per shown frame from the moment the capture thread grabbed it to the
moment the processed frame was ready for display.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.identity_worker import BackgroundIdentity
from pipeline.latent.model import LatentFaceModel
from pipeline.latent.swapper import CARD_KIND, CARD_NAME, CARD_VERSION
from pipeline.latent.synth import BACKGROUND, sample_face
from pipeline.types import FrameResult, Gender
from pipeline.weights import read_card
from stream.build import WEBCAM_MIN_FACE_FRACTION, RunSettings, build_pipeline
from stream.webcam import run_live


def camera_clip(path: Path, width: int, height: int, fps: int, seconds: float) -> Path:
    """A synthetic person in front of a camera: one face, ~150 px, drifting and turning."""
    _, weights = read_card(CARD_NAME, CARD_KIND, CARD_VERSION)
    face = sample_face(LatentFaceModel.load(weights), np.random.default_rng(3), Gender.FEMALE)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            t = i / fps
            size = int(150 + 15 * np.sin(t * 0.8))
            angle = 6 * np.sin(t * 1.1)
            turned = cv2.warpAffine(
                face.image,
                cv2.getRotationMatrix2D((128, 128), angle, size / 256),
                (256, 256),
                borderValue=BACKGROUND,
            )
            canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
            x = int(width / 2 - 128 + 60 * np.sin(t * 0.6))
            y = int(height / 2 - 128 + 20 * np.cos(t * 0.9))
            canvas[y : y + 256, x : x + 256] = turned
            picture = av.VideoFrame.from_ndarray(canvas, format="bgr24")
            picture.pts, picture.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


class NoFaceWork:
    """A stand-in pipeline that returns each frame untouched (the capture loop's floor)."""

    def process(self, frame: np.ndarray) -> FrameResult:
        return FrameResult(image=frame, faces=())


def warmed(settings: RunSettings, clip: Path):
    """A pipeline for the run, after a throwaway one has processed the clip's first frames
    (model loading and the first network calls are start-up, not latency)."""
    with av.open(str(clip)) as container:
        decoded = container.decode(video=0)
        frames = [next(decoded).to_ndarray(format="bgr24") for _ in range(10)]
    warm_up = build_pipeline(settings, video=True)
    for frame in frames:
        warm_up.process(frame)
    pipeline = build_pipeline(settings, video=True, identity_worker=True)  # as `faceanon webcam`
    if isinstance(pipeline.identity, BackgroundIdentity):
        pipeline.identity.wait_ready()
    return pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    settings = RunSettings(min_face_fraction=WEBCAM_MIN_FACE_FRACTION)  # as `faceanon webcam`
    with tempfile.TemporaryDirectory() as folder:
        clip = camera_clip(Path(folder) / "camera.mp4", width, height, args.fps, args.seconds)
        runs = {
            "swap": warmed(settings, clip),
            "blur": warmed(replace(settings, mode="blur"), clip),
            "capture": NoFaceWork(),
        }
        print(
            f"source: {width}×{height} at {args.fps} fps, {args.seconds:g} s, played in real time"
        )
        columns = ("frames", 8), ("fps", 7), ("dropped", 9), ("median ms", 11), ("p95 ms", 9)
        print(f"{'run':<9}" + "".join(f"{name:>{width}}" for name, width in columns) + "   max ms")
        for name, pipeline in runs.items():
            stats = run_live(str(clip), pipeline, headless=True, quiet=True)
            figures = stats.summary()
            print(
                f"{name:<9}{figures['frames']:>8}{figures['fps']:>7.1f}"
                f"{figures['dropped_frames']:>9}{figures['latency_ms_median']:>11.1f}"
                f"{figures['latency_ms_p95']:>9.1f}{figures['latency_ms_max']:>9.1f}"
            )


if __name__ == "__main__":
    main()
