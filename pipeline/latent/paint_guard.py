"""Where a gender swap could paint make-up or stubble on, and a limit on how much it may.

The gender direction and the k-Same gallery are fitted on CelebA, where even the women
labelled make-up free often wear eyeliner and mascara and many men are unshaven: a man turned
woman gets darker eyes that read as make-up, a woman turned man a grey shadow on the upper lip
and chin. The guard caps how much the swap's texture change may darken those regions (the
eyes' surroundings for a new woman; jaw, chin and upper lip for a new man). It only limits
darkening: lightening (make-up or stubble taken off) passes, and so does every other region.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..landmarks import LEFT_EYE, OUTER_LIPS, RIGHT_EYE, eye_span
from ..types import Gender

BEARD = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 33]  # jaw from the upper lip down, nose base
# margins, as shares of the distance between the eye centres
EYE_MARGIN = 0.19
BEARD_MARGIN = 0.09
MOUTH_MARGIN = 0.03


def _hull(points: np.ndarray, shape: tuple[int, int], margin: float) -> np.ndarray:
    """A float mask of the points' convex hull grown by `margin` pixels, feathered."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    grow = max(1, round(margin))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
    grown = cv2.dilate(mask, kernel).astype(np.float32)
    return cv2.GaussianBlur(grown, (0, 0), grow / 2)


def paint_regions(landmarks: np.ndarray, shape: tuple[int, int]) -> dict[Gender, np.ndarray]:
    """Float masks (0-1, `shape`) of the regions a swap must not paint, by the face's new
    gender: around the eyes for a woman, jaw, chin and upper lip (not the lips) for a man.
    `landmarks`: 68 points in the pixels of an image of `shape`."""
    points = np.asarray(landmarks, np.float64)
    span = eye_span(points)
    eyes = np.maximum(*(_hull(points[e], shape, EYE_MARGIN * span) for e in (LEFT_EYE, RIGHT_EYE)))
    mouth = _hull(points[OUTER_LIPS], shape, MOUTH_MARGIN * span)
    beard = _hull(points[BEARD], shape, BEARD_MARGIN * span) * (1 - mouth)
    return {Gender.FEMALE: eyes, Gender.MALE: beard}


class PaintGuard:
    """Caps the darkening a texture change brings to the paint regions of its new gender."""

    def __init__(self, mean_shape_pixels: np.ndarray, size: int, limit: float) -> None:
        """`mean_shape_pixels`: the texture frame's 68 points; `limit`: the most a swap may
        darken a region, in grey levels (0-255); infinity: no limit."""
        self.limit = limit
        self.regions = paint_regions(mean_shape_pixels, (size, size))

    def apply(self, texture: np.ndarray, target: Gender) -> np.ndarray:
        """`texture` (T×T×3 change) with its luminance in `target`'s region darkening by at
        most `limit`; colour is otherwise left as it was."""
        if not np.isfinite(self.limit):
            return texture
        darker = np.minimum(texture.mean(axis=2) + self.limit, 0.0)
        return texture - (darker * self.regions[target])[..., None]


def paint_change(
    before: np.ndarray, after: np.ndarray, landmarks: np.ndarray
) -> dict[Gender, float]:
    """Mean grey-level change from `before` to `after` (same-size BGR images) in each paint
    region of the face at `landmarks` (negative: darker), for measuring what a swap painted."""
    grey = [cv2.cvtColor(i, cv2.COLOR_BGR2GRAY).astype(np.float32) for i in (before, after)]
    regions = paint_regions(landmarks, grey[0].shape)
    return {
        gender: float(((grey[1] - grey[0]) * mask).sum() / max(mask.sum(), 1e-6))
        for gender, mask in regions.items()
    }
