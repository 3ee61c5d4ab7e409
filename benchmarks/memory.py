"""Peak memory against input length: `faceanon batch` on a 1-minute and a 10-minute recording.

    .venv/bin/python benchmarks/memory.py [--minutes 1 10] [--mode blur|swap] [--size WxH]

Each recording is made here: the shipped synthetic portrait, scaled to 96 px, drifting over a
noisy background at 25 fps (H.264 with an AAC tone track). Each batch runs as a fresh process
tree; its peak resident set (the largest `ru_maxrss` among the batch process and its workers)
is read by a small wrapper process, so one run's peak does not leak into the next. Memory is
flat when the longest input's peak stays within 10 % of the shortest's.
"""

from __future__ import annotations

import argparse
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
PORTRAIT = ROOT / "samples" / "portrait.png"
FACEANON = Path(sys.executable).with_name("faceanon")
# Runs the command given as arguments and prints the peak RSS (KiB) of its process tree.
PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def make_recording(path: Path, seconds: int, size: tuple[int, int]) -> None:
    width, height = size
    rng = np.random.default_rng(0)
    background = rng.integers(30, 200, (height, width, 3), dtype=np.uint8)
    portrait = cv2.imread(str(PORTRAIT))
    face = cv2.resize(portrait, (96, 120), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=16000, layout="mono")
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(640) / 16000)).astype(np.float32)
        for i in range(seconds * 25):
            image = background.copy()
            x = int((width - 96) * (0.5 + 0.5 * np.sin(i / 50)))
            y = int((height - 120) * (0.5 + 0.5 * np.cos(i / 70)))
            image[y : y + 120, x : x + 96] = face
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            container.mux(video.encode(frame))
            sound = av.AudioFrame.from_ndarray(tone[None], format="flt", layout="mono")
            sound.sample_rate, sound.pts = 16000, i * 640
            container.mux(audio.encode(sound))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))


def peak_batch(source: Path, out: Path, mode: str) -> tuple[float, int]:
    """(seconds, peak RSS in MiB) of one `faceanon batch` run on a folder."""
    command = [str(FACEANON), "batch", str(source), "-o", str(out), "--workers", "1"]
    command += ["--mode", mode, "--min-face", "60", "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *command], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, round(int(done.stdout.split()[-1]) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--mode", choices=("blur", "swap"), default="blur")
    parser.add_argument("--size", default="320x240")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for minutes in args.minutes:
            source = Path(folder) / f"in{minutes}"
            source.mkdir()
            make_recording(source / "cam.mp4", minutes * 60, size)
            seconds, peak = peak_batch(source, Path(folder) / f"out{minutes}", args.mode)
            rows.append((minutes, seconds, peak))
    print(f"faceanon batch --mode {args.mode}, {args.size}, 25 fps, one worker")
    print(f"{'input':>8}{'frames':>9}{'seconds':>9}{'peak MiB':>10}")
    for minutes, seconds, peak in rows:
        print(f"{minutes:>6} m{minutes * 1500:>9}{seconds:>9.0f}{peak:>10}")
    base = rows[0][2]
    for minutes, _, peak in rows[1:]:
        print(f"peak at {minutes} m / peak at {rows[0][0]} m: {peak / base:.3f}")


if __name__ == "__main__":
    main()
