"""Stage 1: find face boxes with dlib (HOG by default, MMOD CNN on request).

dlib's detectors find faces down to about 80 px (HOG) or 40 px (CNN) across. Instead of running
them at full resolution, we resize a copy so that the smallest face we want (`min_face`, in
full-resolution pixels) lands at that size: large frames are scanned downscaled, small faces are
found by upscaling; boxes are mapped back to full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import models
from .types import Box, Detection

_NATIVE_MIN_FACE = {"hog": 80.0, "cnn": 40.0}
_SCALE_LIMITS = (0.125, 4.0)


def default_min_face(height: int, width: int, fraction: float = 1 / 20) -> int:
    """A smallest face size in pixels proportional to the frame's short side."""
    return int(np.clip(min(height, width) * fraction, 20, 120))


@dataclass(frozen=True)
class DetectorConfig:
    """`kind`: hog or cnn; `min_face`: smallest face side wanted, None for frame-relative;
    `threshold`: added to dlib's decision threshold (negative finds more, less sure faces)."""

    kind: str = "hog"
    min_face: int | None = None
    threshold: float = 0.0


class FaceDetector:
    """Finds every face in a BGR frame."""

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        if config.kind not in _NATIVE_MIN_FACE:
            raise ValueError(f"unknown detector {config.kind!r}")
        self.config = config

    def scale_for(self, height: int, width: int) -> float:
        """The resize factor applied before detection."""
        min_face = self.config.min_face or default_min_face(height, width)
        return float(np.clip(_NATIVE_MIN_FACE[self.config.kind] / min_face, *_SCALE_LIMITS))

    def detect(self, frame: np.ndarray) -> list[Detection]:
        height, width = frame.shape[:2]
        scale = self.scale_for(height, width)
        small = _resize(frame, scale)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        if self.config.kind == "hog":
            found = _run_hog(rgb, self.config.threshold)
        else:
            found = _run_cnn(rgb, self.config.threshold)
        frame_box = Box(0, 0, width, height)
        detections = []
        for box, score in found:
            box = box.scaled(1 / scale)
            if box.iou(frame_box) > 0:
                detections.append(Detection(box=box, score=score))
        return detections


def _resize(frame: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return frame
    height, width = frame.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(frame, size, interpolation=interpolation)


def _run_hog(rgb: np.ndarray, threshold: float) -> list[tuple[Box, float]]:
    rects, scores, _ = models.hog_detector().run(rgb, 0, threshold)
    return [(_box(r), float(s)) for r, s in zip(rects, scores, strict=True)]


def _run_cnn(rgb: np.ndarray, threshold: float) -> list[tuple[Box, float]]:
    found = models.cnn_detector()(rgb, 0)
    return [(_box(d.rect), float(d.confidence)) for d in found if d.confidence >= threshold]


def _box(rect) -> Box:
    return Box(
        float(rect.left()), float(rect.top()), float(rect.right() + 1), float(rect.bottom() + 1)
    )
