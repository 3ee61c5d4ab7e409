"""Stage 1: find face boxes: CenterFace, a CNN (default), or dlib's HOG or MMOD CNN.

CenterFace (see `centerface.py`) finds frontal, turned and profile faces from about 14 px
across; dlib's detectors find near-frontal faces from about 80 px (HOG) or 40 px (MMOD CNN).
Instead of running them at full resolution, we resize a copy so that the smallest face we want
(`min_face`, in full-resolution pixels) lands at that size: large frames are scanned
downscaled, small faces are found by upscaling; boxes are mapped back to full resolution. With
CenterFace a 640×360 frame with faces from 24 px is scanned at 0.58×, a 1920×1080 one with
faces from 72 px at 0.19×: its cost barely grows with the frame.

Every detector's boxes leave this module in the convention of dlib's 68-point landmark
predictor (which was trained on HOG boxes, brows to chin): CenterFace's own boxes (forehead to
chin) are mapped there from its five points (see `landmark_box`).

An upscaled frame can be huge (720p at 4× is 15 megapixels), so a scaled frame wider or taller
than `tile` pixels is scanned in overlapping tiles of at most `tile`×`tile`, which bounds memory
and the work of one detector call. A face cut by a tile's inner edge is left to the neighbouring
tile, which holds it whole when it is smaller than the overlap; larger faces are found by one
more pass over the whole frame at a scale just fine enough for them. Boxes from all passes are
merged by non-maximum suppression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from . import centerface, models
from .types import Box, Detection

KINDS = ("centerface", "hog", "cnn", "auto")
DEFAULT_KIND = "centerface"
_NATIVE_MIN_FACE = {"centerface": 14.0, "hog": 80.0, "cnn": 40.0}
CENTERFACE_THRESHOLD = 0.5  # heatmap score a face centre needs (plus `threshold`)
# Video: a face a track follows is kept by a detection this much below the threshold (CenterFace
# 0.2 instead of 0.5): a face turning away or dimming scores lower before it is gone.
KEEP_MARGIN = 0.3
_SCORE_FLOOR = {"centerface": CENTERFACE_THRESHOLD, "hog": 0.0, "cnn": 0.0}  # at threshold 0
# A photo in which the first pass finds no face is scanned once more, at no less than full
# resolution and with the threshold lowered by this much: a photo is rarely faceless, and one
# written out with its face raw is the failure that matters.
SECOND_LOOK = -0.2
# Where the second look finds nothing either, a last one at its threshold (CenterFace only):
# the photo enlarged 2× (no larger than LAST_LOOK_SIDE on its long side, nor smaller than
# the first look's scale) and turned each way by 30°. Designed from the two of 2,154 held-out
# CelebA photos that no look found: one, a face half hidden by hair, scores 0.51 turned (0.14
# upright); the other, a face under a hat and a curtain of hair, no view finds (3× upright
# scored 0.38, but on the fist holding the hat: swapped, the face stayed raw, so not kept).
# On 800 face-free strips of other CelebA photos (hair, hats, backdrops) the turned views
# fired on none at this threshold; the second look on 6.
LAST_LOOKS = ((2.0, 30.0), (2.0, -30.0))  # (enlargement, turn in degrees)
LAST_LOOK_SIDE = 768
# dlib-style box from CenterFace's five points, fitted by benchmarks/box_mapping.py on 246
# unlabelled CelebA photos (2×) where HOG found the face, checked on 245 others: IoU with the
# HOG box median 0.88, 10th percentile 0.73 (0.81 / 0.65 from CenterFace's own box); the 68
# landmarks fitted in it lie a median 0.013 eye distances from those fitted in HOG's box.
# Centre: the midpoint of eye centre and mouth centre, shifted by (x, y) × scale; side:
# SIDE × scale, where scale = max(eye-to-mouth distance, 0.9 × eye distance).
POINTS_SHIFT = (0.060, -0.021)
POINTS_SIDE = 2.198
_SCALE_LIMITS = (0.125, 4.0)
TILE_OVERLAP = 0.2  # overlap of neighbouring tiles, as a fraction of a tile's side
_EDGE_MARGIN = 0.1  # a box this close to an inner tile edge (fraction of overlap) is cut
_COARSE_MARGIN = 1.5  # the whole-frame pass sees the faces tiles may cut at 1.5× native size
MERGE_IOU = 0.3


def default_min_face(height: int, width: int, fraction: float = 1 / 20) -> int:
    """A smallest face size in pixels proportional to the frame's short side."""
    return int(np.clip(min(height, width) * fraction, 20, 120))


def resolve_kind(kind: str) -> str:
    """centerface, hog or cnn; `auto` is CenterFace (which runs on a GPU where there is one)."""
    if kind == "auto":
        return DEFAULT_KIND
    if kind not in _NATIVE_MIN_FACE:
        raise ValueError(f"unknown detector {kind!r} (choose from {', '.join(KINDS)})")
    return kind


@dataclass(frozen=True)
class DetectorConfig:
    """`kind`: centerface, hog, cnn or auto; `min_face`: smallest face side wanted, None for
    frame-relative; `threshold`: added to the detector's decision threshold (negative finds
    more, less sure faces); `tile`: the largest side of one detector call in scaled pixels (0:
    never tile); `min_face_fraction`: without `min_face`, the smallest face is this share of the
    short side (within 20–120 px); `gpu`: run CenterFace on a CUDA GPU when ONNX Runtime can;
    `second_look`: where a frame shows no face, scan it again more thoroughly (photos);
    `keep_margin`: also return detections up to this much below the threshold, marked not
    `sure` (video: a tracker keeps the faces it follows with them, see `track.py`)."""

    kind: str = DEFAULT_KIND
    min_face: int | None = None
    threshold: float = 0.0
    tile: int = 2048
    min_face_fraction: float = 1 / 20
    gpu: bool = False
    second_look: bool = False
    keep_margin: float = 0.0


# How photos are searched at default settings (`faceanon image`, `faceanon classify`, and the
# training data, so models learn from the crops they will be given).
PHOTO_DETECTOR = DetectorConfig(second_look=True)


class FaceDetector:
    """Finds every face in a BGR frame."""

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        self.kind = resolve_kind(config.kind)
        native = _NATIVE_MIN_FACE[self.kind]
        if config.tile and config.tile < 10 * native:
            raise ValueError(f"tile must be 0 or at least {10 * native:.0f} pixels")
        self.config = config

    def min_face_for(self, height: int, width: int) -> int:
        """The smallest face side, in frame pixels, the detector looks for in such a frame."""
        fraction = self.config.min_face_fraction
        return self.config.min_face or default_min_face(height, width, fraction)

    def scale_for(self, height: int, width: int) -> float:
        """The resize factor applied before detection."""
        min_face = self.min_face_for(height, width)
        return float(np.clip(_NATIVE_MIN_FACE[self.kind] / min_face, *_SCALE_LIMITS))

    def detect(self, frame: np.ndarray) -> list[Detection]:
        height, width = frame.shape[:2]
        scale = self.scale_for(height, width)
        threshold = self.config.threshold
        margin = self.config.keep_margin
        found = self._detect_at(frame, scale, threshold - margin)
        if margin:
            floor = _SCORE_FLOOR[self.kind] + threshold
            found = [d if d.score >= floor else replace(d, sure=False) for d in found]
        if not found and self.config.second_look:
            found = self._detect_at(frame, max(scale, 1.0), threshold + SECOND_LOOK)
            if not found and self.kind == "centerface":
                found = self._last_look(frame, scale, threshold + SECOND_LOOK)
        frame_box = Box(0, 0, width, height)
        return [d for d in found if d.box.iou(frame_box) > 0]

    def _last_look(self, frame: np.ndarray, scale: float, threshold: float) -> list[Detection]:
        """The photo enlarged and turned (see LAST_LOOKS), until one view finds a face; at
        least at the first look's `scale`, at most at LAST_LOOK_SIDE pixels on its long side
        (a large photo is scanned turned at less than full resolution)."""
        longest = max(frame.shape[:2])
        for enlargement, angle in LAST_LOOKS:
            at = max(scale, min(max(scale, 1.0) * enlargement, LAST_LOOK_SIDE / longest))
            found = self._turned_scan(frame, at, threshold, angle)
            if found:
                return found
        return []

    def _turned_scan(
        self, frame: np.ndarray, scale: float, threshold: float, angle: float
    ) -> list[Detection]:
        """Scan the frame resized by `scale` and turned by `angle` degrees (counter-clockwise,
        on a canvas that holds all of it); the faces' points turned back into the frame, their
        boxes made from them."""
        small = _resize(frame, scale)
        height, width = small.shape[:2]
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
        size = (math.ceil(height * sin + width * cos), math.ceil(height * cos + width * sin))
        turn[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
        turned = cv2.warpAffine(small, turn, size, borderMode=cv2.BORDER_REPLICATE)
        back = cv2.invertAffineTransform(turn)
        found = []
        for d in self._detect_at(turned, 1.0, threshold):
            if d.points is None:
                continue
            points = ((d.points @ back[:, :2].T + back[:, 2]) / scale).astype(np.float32)
            found.append(replace(d, box=landmark_box(points), points=points))
        return found

    def _detect_at(self, frame: np.ndarray, scale: float, threshold: float) -> list[Detection]:
        height, width = frame.shape[:2]
        tile = self.config.tile
        if not tile or max(height, width) * scale <= tile:
            return self._scan(frame, scale, threshold)
        side = tile / scale  # a tile's side in frame pixels
        overlap = TILE_OVERLAP * side
        margin = _EDGE_MARGIN * overlap
        found = []
        for top, bottom in _spans(height, side, overlap):
            for left, right in _spans(width, side, overlap):
                window = Box(left, top, right, bottom)
                inner = Box(
                    left + margin if left > 0 else -math.inf,
                    top + margin if top > 0 else -math.inf,
                    right - margin if right < width else math.inf,
                    bottom - margin if bottom < height else math.inf,
                )
                for d in self._scan(frame[top:bottom, left:right], scale, threshold, window):
                    if _within(d.box, inner):
                        found.append(d)
        # Faces larger than the overlap (less both margins) may be cut by every tile.
        coarse = _COARSE_MARGIN * _NATIVE_MIN_FACE[self.kind] / (overlap - 2 * margin)
        if coarse < scale:
            found.extend(self._detect_at(frame, coarse, threshold))
        return merge_detections(found)

    def _scan(
        self, image: np.ndarray, scale: float, threshold: float, at: Box | None = None
    ) -> list[Detection]:
        """One detector call on `image` resized by `scale`; boxes in the frame's pixels
        (`at`: where `image` lies in the frame)."""
        small = _resize(image, scale)
        dx, dy = (at.left, at.top) if at is not None else (0.0, 0.0)
        if self.kind == "centerface":
            hits = centerface.detect(small, CENTERFACE_THRESHOLD + threshold, self.config.gpu)
            return [_from_centerface(hit, scale, dx, dy) for hit in hits]
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        # HOG on colour, not gray: gray is a quarter faster and finds the same faces in photos
        # (677 vs 678 of 700 CelebA), but loses swapped faces the swap calibration counts on
        # (still detected after α = 1.5: 96.6 % on gray against 98.1 %, 580 faces).
        run = _run_hog if self.kind == "hog" else _run_cnn
        found = run(rgb, threshold)
        detections = []
        for box, score in found:
            box = box.scaled(1 / scale)
            box = Box(box.left + dx, box.top + dy, box.right + dx, box.bottom + dy)
            detections.append(Detection(box=box, score=score))
        return detections


def five_point_frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    """A face's middle (between eye centre and mouth centre) and size (the larger of the
    eye-to-mouth distance and 0.9 × the eye distance) from five points."""
    eyes = (points[0] + points[1]) / 2
    mouth = (points[3] + points[4]) / 2
    scale = max(float(np.hypot(*(mouth - eyes))), 0.9 * float(np.hypot(*(points[1] - points[0]))))
    return (eyes + mouth) / 2, scale


def landmark_box(points: np.ndarray) -> Box:
    """The box dlib's landmark predictor expects for a face with these five points (eyes,
    nose tip, mouth corners), as fitted against HOG's boxes (see POINTS_SIDE)."""
    middle, scale = five_point_frame(points)
    centre = middle + np.array(POINTS_SHIFT) * scale
    half = POINTS_SIDE * scale / 2
    return Box(
        float(centre[0] - half),
        float(centre[1] - half),
        float(centre[0] + half),
        float(centre[1] + half),
    )


def _from_centerface(hit: centerface.Hit, scale: float, dx: float, dy: float) -> Detection:
    """A CenterFace hit in frame pixels, its box in the landmark predictor's convention."""
    points = hit.points / scale + np.array([dx, dy], np.float32)
    return Detection(box=landmark_box(points), score=hit.score, points=points)


def merge_detections(found: list[Detection], iou: float = MERGE_IOU) -> list[Detection]:
    """Non-maximum suppression: keep the surest box of each face; a box overlapping a kept one
    by more than `iou`, or lying mostly (80 %) inside it, is the same face."""
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: -d.score):
        if all(d.box.iou(k.box) <= iou and _inside(d.box, k.box) < 0.8 for k in kept):
            kept.append(d)
    return kept


def _spans(length: int, side: float, overlap: float) -> list[tuple[int, int]]:
    """The fewest windows of at most `side` pixels covering [0, length), neighbours sharing
    `overlap` pixels (made as small as that allows, so little is scanned twice)."""
    if length <= math.ceil(side):
        return [(0, length)]
    count = math.ceil((length - overlap) / (side - overlap))
    size = min(math.ceil(side), math.ceil((length + (count - 1) * overlap) / count) + 1)
    stride = (length - size) / (count - 1)
    return [(round(i * stride), min(length, round(i * stride) + size)) for i in range(count)]


def _within(box: Box, inner: Box) -> bool:
    return (
        box.left >= inner.left
        and box.top >= inner.top
        and box.right <= inner.right
        and box.bottom <= inner.bottom
    )


def _inside(a: Box, b: Box) -> float:
    """The fraction of the smaller box's area that lies inside the other."""
    inter = Box(
        max(a.left, b.left), max(a.top, b.top), min(a.right, b.right), min(a.bottom, b.bottom)
    )
    if inter.width <= 0 or inter.height <= 0:
        return 0.0
    return inter.area / max(1e-9, min(a.area, b.area))


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
