"""Faces found, and faces left raw, on real footage: the default detector against a reference
of detectors it does not use, and whole `faceanon video` runs checked frame by frame.

    .venv/bin/python benchmarks/recall.py [--every 10] [--checked 30] [VIDEO ...]

Defaults to the shared clips (hamilton_640x360.mp4, radio_m_512.mp4,
cctv_overhead_720p50.avi; skipped with a message when absent). On every `--every`-th frame
(at most `--checked` frames a clip) the reference is the union of dlib's MMOD CNN at 2× and
YuNet (the `yuface` package, libfacedetection's CNN, when installed: `pip install yuface`) at
2×, merged by overlap; only its faces at least 24 px tall count.

1. Detectors alone: each setting's recall (reference faces it finds, IoU ≥ 0.3), its boxes the
   reference lacks, and ms/frame.
2. End to end: `faceanon video CLIP -o OUT` with its defaults (and `--detector hog`, the old
   default, for comparison); on the same frames a reference face is *raw* when the output left
   the middle of its box as it was: a mean absolute difference under RAW_DIFF grey levels,
   about what re-encoding alone leaves (printed: the same measure on the faceless corners).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.detect import DetectorConfig, FaceDetector, merge_detections
from pipeline.types import Box, Detection
from stream.build import STREAM_MIN_FACE_FRACTION

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIPS = ("hamilton_640x360.mp4", "radio_m_512.mp4", "cctv_overhead_720p50.avi")
MATCH_IOU = 0.3
MIN_HEIGHT = 24
RAW_DIFF = 3.0
SETTINGS = {
    "video default (centerface, 1/15)": DetectorConfig(min_face_fraction=STREAM_MIN_FACE_FRACTION),
    "image/batch default (centerface, 1/20)": DetectorConfig(),
    "hog, old video default (1/8)": DetectorConfig(kind="hog", min_face_fraction=1 / 8),
    "hog, 1/20": DetectorConfig(kind="hog"),
}


def checked_frames(path: Path, every: int, limit: int) -> dict[int, np.ndarray]:
    """Every `every`-th BGR frame (index → frame), at most `limit` of them."""
    frames = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every == every // 2:
                frames[index] = frame.to_ndarray(format="bgr24")
                if len(frames) == limit:
                    break
    return frames


def yunet(frame: np.ndarray) -> list[Detection]:
    try:
        import yuface
    except ImportError:
        return []
    big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores, boxes, _ = yuface.detect(big, conf=0.6)
    return [
        Detection(Box(x / 2, y / 2, (x + w) / 2, (y + h) / 2), float(s) / 100)
        for s, (x, y, w, h) in zip(scores, boxes.astype(float), strict=True)
    ]


def reference(frame: np.ndarray, mmod: FaceDetector) -> list[Detection]:
    found = [Detection(d.box, 1.0) for d in mmod.detect(frame) + yunet(frame)]
    return [d for d in merge_detections(found) if d.box.height >= MIN_HEIGHT]


def matched(found: list[Detection], truth: list[Detection]) -> tuple[int, int]:
    """(reference faces found, boxes that match no reference face)."""
    hits = sum(any(t.box.iou(f.box) >= MATCH_IOU for f in found) for t in truth)
    extra = sum(all(f.box.iou(t.box) < MATCH_IOU for t in truth) for f in found)
    return hits, extra


def middle(box: Box, shape: tuple[int, ...]) -> tuple[slice, slice]:
    inner = box.expanded(0.5)
    height, width = shape[:2]
    top, bottom = max(0, int(inner.top)), min(height, int(inner.bottom) + 1)
    left, right = max(0, int(inner.left)), min(width, int(inner.right) + 1)
    return slice(top, bottom), slice(left, right)


def anonymize(video: Path, output: Path, *options: str) -> float:
    started = time.perf_counter()
    command = [str(ROOT / ".venv" / "bin" / "faceanon"), "video", str(video), "-o", str(output)]
    subprocess.run([*command, "--quiet", "--no-identity", *options], check=True)
    return time.perf_counter() - started


def raw_faces(
    before: dict[int, np.ndarray], after: Path, truth: dict[int, list[Detection]]
) -> tuple[int, list[tuple[int, int]], float]:
    """(faces checked, (frame, height) of each raw one, corner noise in grey levels)."""
    wanted = checked_frames(after, 1, max(before) + 1)
    raw, corners = [], []
    for index, frame in before.items():
        out = wanted[index]
        corners.append(float(np.abs(out[:24, :24].astype(int) - frame[:24, :24]).mean()))
        for face in truth[index]:
            rows, cols = middle(face.box, frame.shape)
            change = np.abs(out[rows, cols].astype(int) - frame[rows, cols]).mean()
            if change < RAW_DIFF:
                raw.append((index, round(face.box.height)))
    return sum(map(len, truth.values())), raw, float(np.median(corners))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--every", type=int, default=10, help="check every N-th frame")
    parser.add_argument("--checked", type=int, default=30, help="frames checked per clip")
    args = parser.parse_args()
    videos = args.videos or [MEDIA / name for name in CLIPS]
    present = [v for v in videos if v.is_file()]
    for missing in sorted(set(videos) - set(present)):
        print(f"skipped {missing}: not present")
    try:
        import yuface  # noqa: F401

        kind = "MMOD CNN 2× ∪ YuNet 2×"
    except ImportError:
        kind = "MMOD CNN 2× (yuface not installed)"
    mmod = FaceDetector(DetectorConfig(kind="cnn", min_face=20))
    detectors = {name: FaceDetector(config) for name, config in SETTINGS.items()}
    for video in present:
        frames = checked_frames(video, args.every, args.checked)
        truth = {i: reference(f, mmod) for i, f in frames.items()}
        faces = sum(map(len, truth.values()))
        height, width = next(iter(frames.values())).shape[:2]
        print(f"\n{video.name} ({width}×{height}): {len(frames)} frames (every {args.every}th)")
        print(f"  reference ({kind}): {faces} faces ≥ {MIN_HEIGHT} px")
        print(f"  {'detector alone':40} {'recall':>8} {'extra':>6} {'ms/frame':>9}")
        for name, detector in detectors.items():
            started = time.perf_counter()
            found = {i: detector.detect(f) for i, f in frames.items()}
            ms = (time.perf_counter() - started) / len(frames) * 1000
            hits = [matched(found[i], truth[i]) for i in frames]
            share = f"{100 * sum(h[0] for h in hits) / faces:.1f} %" if faces else "n/a"
            print(f"  {name:40} {share:>8} {sum(h[1] for h in hits):>6} {ms:>9.0f}")
        with tempfile.TemporaryDirectory() as folder:
            for label, options in (
                ("faceanon video (defaults)", ()),
                ("--detector hog", ("--detector", "hog")),
            ):
                output = Path(folder) / f"out{len(options)}.mp4"
                seconds = anonymize(video, output, *options)
                checked, raw, noise = raw_faces(frames, output, truth)
                big = [h for _, h in raw if h > 96]
                share = f"{100 * len(raw) / checked:.1f} %" if checked else "n/a"
                print(
                    f"  {label:40} raw {len(raw)}/{checked} ({share}; {len(big)} taller than "
                    f"96 px), {seconds:.1f} s; re-encoding noise {noise:.2f}"
                )


if __name__ == "__main__":
    main()
