"""Batch throughput: `faceanon batch` on 1 and 2 local workers and on a local Ray instance
with 2 workers, measured in the same run on the same files.

    .venv/bin/python benchmarks/batch.py [--clips N] [--frames F] [--size WxH] [--media DIR]

By default N generated clips (moving shapes on noise, H.264) are used; `--media DIR` takes a
folder of real recordings instead. Each setting runs the CLI as a fresh process into a fresh
output folder, so the wall time includes start-up and model loading, as a user sees it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_clips(folder: Path, count: int, frames: int, size: tuple[int, int]) -> None:
    """`count` clips of `frames` frames: a drifting square and disc over fixed noise."""
    width, height = size
    rng = np.random.default_rng(0)
    for index in range(count):
        background = rng.integers(0, 200, (height, width, 3), dtype=np.uint8)
        path = folder / f"cam{index % 2}" / f"clip{index:02d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i in range(frames):
                image = background.copy()
                x = (i * 4 + index * 30) % (width - 40)
                cv2.rectangle(image, (x, height // 3), (x + 40, height // 3 + 40), (0, 0, 255), -1)
                cv2.circle(image, (width // 2, (i * 3) % height), 20, (0, 255, 0), -1)
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                frame.pts, frame.time_base = i, Fraction(1, 25)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))


def run(source: Path, out: Path, extra: list[str], mode: str) -> tuple[float, dict]:
    command = [
        sys.executable, "-c", "from stream.cli import main; main()", "batch", str(source),
        "-o", str(out), "--mode", mode, "--quiet", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"batch failed ({' '.join(extra)}): {done.stderr.strip()}")
    return seconds, json.loads((out / "batch-report.json").read_text())["totals"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=75)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--media", type=Path, default=None, help="a folder of recordings")
    parser.add_argument("--mode", default="blur", choices=["blur", "swap"])
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    settings = {
        "1 local worker": ["--workers", "1"],
        "2 local workers": ["--workers", "2"],
        "Ray, 2 local workers": ["--ray", "local", "--workers", "2"],
    }
    try:
        import ray  # noqa: F401
    except ImportError:
        del settings["Ray, 2 local workers"]
        print("Ray is not installed: its row is skipped (pip install 'faceanon[ray]')")
    with tempfile.TemporaryDirectory(prefix="faceanon-batch-bench-") as tmp:
        folder = Path(tmp)
        source = args.media
        if source is None:
            source = folder / "in"
            make_clips(source, args.clips, args.frames, (width, height))
            print(f"{args.clips} generated clips, {args.frames} frames of {width}×{height} each")
        rows = []
        for name, extra in settings.items():
            seconds, totals = run(source, folder / name.replace(" ", "-"), extra, args.mode)
            rows.append((name, seconds, totals))
    base = rows[0][1]
    print(f"\n{'setting':22} {'files':>6} {'frames':>7} {'wall s':>7} {'files/min':>10} "
          f"{'frames/s':>9} {'× 1 worker':>11}")  # fmt: skip
    for name, seconds, totals in rows:
        print(
            f"{name:22} {totals['files']:>6} {totals['frames']:>7} {seconds:>7.1f} "
            f"{totals['files'] / seconds * 60:>10.1f} {totals['frames'] / seconds:>9.1f} "
            f"{base / seconds:>11.2f}"
        )


if __name__ == "__main__":
    main()
