"""Face recall on CCTV footage: detector settings against a slow, thorough reference.

    .venv/bin/python benchmarks/recall.py [--frames N] [VIDEO ...]

Defaults to the shared clips cctv_overhead_720p50.avi and hamilton_640x360.mp4 (skipped with a
message when absent). On N frames spread evenly over each clip, the reference is the union of
dlib's MMOD CNN at 2× (smallest face 20 px) and HOG at 2× with its threshold lowered by 0.5,
merged by non-maximum suppression. A setting's recall is the share of reference faces it finds
(IoU ≥ 0.3); `extra` counts its boxes the reference lacks; ms/frame is its detection time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.detect import DetectorConfig, FaceDetector, merge_detections
from pipeline.types import Detection
from stream.build import STREAM_MIN_FACE_FRACTION

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = ("cctv_overhead_720p50.avi", "hamilton_640x360.mp4")
MATCH_IOU = 0.3
SETTINGS = {
    "image/batch default (1/20 of short side)": DetectorConfig(kind="auto"),
    "video/webcam default (1/8 of short side)": DetectorConfig(
        kind="auto", min_face_fraction=STREAM_MIN_FACE_FRACTION
    ),
    "hog, min face 20 (tiled 4×)": DetectorConfig(kind="hog", min_face=20),
    "hog, min face 20, untiled": DetectorConfig(kind="hog", min_face=20, tile=0),
    "cnn, min face 40": DetectorConfig(kind="cnn", min_face=40),
}
REFERENCE = (
    DetectorConfig(kind="cnn", min_face=20),  # 40 px native → 2×
    DetectorConfig(kind="hog", min_face=40, threshold=-0.5),  # 80 px native → 2×
)


def sample_frames(path: Path, count: int) -> list[np.ndarray]:
    """`count` BGR frames spread evenly over the clip (decoded in order, no seeking)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        total = stream.frames or 0
        if not total:
            total = sum(1 for _ in av.open(str(path)).decode(video=0))
        wanted = set(np.linspace(0, total - 1, count + 2)[1:-1].round().astype(int).tolist())
        frames = []
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) == len(wanted):
                break
    return frames


def reference(frame: np.ndarray, detectors: list[FaceDetector]) -> list[Detection]:
    found = [d for detector in detectors for d in detector.detect(frame)]
    # Scores of the two detectors are on different scales: merge by overlap alone.
    return merge_detections([Detection(d.box, 1.0) for d in found])


def recall(found: list[Detection], truth: list[Detection]) -> tuple[int, int]:
    """(reference faces matched, boxes that match no reference face)."""
    matched = sum(any(t.box.iou(f.box) >= MATCH_IOU for f in found) for t in truth)
    extra = sum(all(f.box.iou(t.box) < MATCH_IOU for t in truth) for f in found)
    return matched, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--frames", type=int, default=6, help="frames sampled per clip")
    args = parser.parse_args()
    videos = args.videos or [MEDIA / name for name in CLIPS]
    present = [v for v in videos if v.is_file()]
    for missing in sorted(set(videos) - set(present)):
        print(f"skipped {missing}: not present")
    if not present:
        return
    detectors = {name: FaceDetector(config) for name, config in SETTINGS.items()}
    thorough = [FaceDetector(config) for config in REFERENCE]
    for video in present:
        frames = sample_frames(video, args.frames)
        started = time.perf_counter()
        truth = [reference(frame, thorough) for frame in frames]
        per_frame = (time.perf_counter() - started) / len(frames) * 1000
        faces = sum(len(t) for t in truth)
        height, width = frames[0].shape[:2]
        print(f"\n{video.name} ({width}×{height}), {len(frames)} frames, {faces} reference faces")
        print(f"  {'setting':38} {'recall':>8} {'extra':>6} {'ms/frame':>9}")
        print(f"  {'reference (cnn 2× + hog 2×, -0.5)':38} {'100 %':>8} {0:>6} {per_frame:>9.0f}")
        for name, detector in detectors.items():
            started = time.perf_counter()
            found = [detector.detect(frame) for frame in frames]
            ms = (time.perf_counter() - started) / len(frames) * 1000
            hits = [recall(f, t) for f, t in zip(found, truth, strict=True)]
            matched, extra = sum(h[0] for h in hits), sum(h[1] for h in hits)
            share = f"{100 * matched / faces:.0f} %" if faces else "n/a"
            print(f"  {name:38} {share:>8} {extra:>6} {ms:>9.0f}")


if __name__ == "__main__":
    main()
