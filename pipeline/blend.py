"""Stage 6: put a processed crop back into the frame without a visible seam.

The crop is warped back with the alignment's inverse matrix, only over the face's own region of
the frame, and mixed in through a feathered mask built from the landmark hull. Before mixing,
the processed face is colour matched to the original: the average colour shift over the mask is
removed, so a transform cannot tint the face or leave a step at the mask's edge. Pixels where the
mask is zero are left exactly as they were.
"""

from __future__ import annotations

import cv2
import numpy as np

from .types import Alignment, Box


def hull_mask(points: np.ndarray, size: int, feather: float = 0.05) -> np.ndarray:
    """A float32 size×size mask: 1 inside the convex hull of `points`, fading to 0 at its edge.

    `feather` is the width of the fade as a fraction of `size`; the fade lies inside the hull,
    so nothing outside the hull is ever touched.
    """
    out = np.zeros((size, size), dtype=np.float32)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    radius = max(1, round(feather * size / 2))
    # the work is done in the hull's box, with room for the erosion and the blur around it
    # (as far as the image goes, so its edges behave as they would on the whole image)
    margin = 2 * radius + 4
    x, y, w, h = cv2.boundingRect(hull)
    left, top = max(x - margin, 0), max(y - margin, 0)
    right, bottom = min(x + w + margin, size), min(y + h + margin, size)
    if right <= left or bottom <= top:
        return out
    mask = np.zeros((bottom - top, right - left), dtype=np.uint8)
    cv2.fillConvexPoly(mask, hull - (left, top), 255)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    inside = mask > 0
    mask = cv2.erode(mask, kernel)
    mask = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigmaX=radius / 2)
    out[top:bottom, left:right] = np.where(inside, np.clip(mask, 0.0, 1.0), 0.0)
    return out


def match_colour(processed: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Remove the typical colour shift of `processed` against `original` over the mask.

    The median per channel, over the mask's core: a transform that darkens a few features
    (brows, lips, beard shadow) moves the mean, and removing a mean shift would then lighten
    all the skin around them; the median follows the skin and corrects only a real tint. Every
    second pixel in each direction is plenty for a median (and a quarter of the work)."""
    core = mask[::2, ::2] > 0.5
    if core.sum() < 4:
        return processed
    difference = processed[::2, ::2][core].astype(np.int16) - original[::2, ::2][core]
    shift = np.round(np.median(difference, axis=0))
    if not shift.any():
        return processed
    # cv2 saturates to 0-255 in one pass; the scalar takes the 3 channels (4th unused)
    return cv2.subtract(processed, (*shift.tolist(), 0.0))


def frame_region(
    alignment: Alignment, mask: np.ndarray, frame_shape: tuple[int, ...]
) -> Box | None:
    """The integer frame rectangle the mask's support covers, clipped to the frame."""
    ys, xs = np.nonzero(mask > 0)
    if len(xs) == 0:
        return None
    corners = np.array(
        [
            [xs.min(), ys.min()],
            [xs.max() + 1, ys.min()],
            [xs.min(), ys.max() + 1],
            [xs.max() + 1, ys.max() + 1],
        ],
        dtype=np.float32,
    )
    box = Box.around(alignment.to_frame(corners))
    height, width = frame_shape[:2]
    left, top = max(0, int(np.floor(box.left)) - 1), max(0, int(np.floor(box.top)) - 1)
    right, bottom = (
        min(width, int(np.ceil(box.right)) + 1),
        min(height, int(np.ceil(box.bottom)) + 1),
    )
    if right <= left or bottom <= top:
        return None
    return Box(left, top, right, bottom)


def paste_back(
    frame: np.ndarray,
    processed: np.ndarray,
    original: np.ndarray,
    alignment: Alignment,
    mask: np.ndarray,
) -> np.ndarray:
    """Blend `processed` (a crop) into `frame` in place, and return the frame.

    `original` is the crop the processing started from, used for colour matching.
    """
    region = frame_region(alignment, mask, frame.shape)
    if region is None:
        return frame
    left, top, right, bottom = (
        int(region.left),
        int(region.top),
        int(region.right),
        int(region.bottom),
    )
    to_roi = alignment.inverse.copy()
    to_roi[:, 2] -= (left, top)
    size = (right - left, bottom - top)
    corrected = match_colour(processed, original, mask)
    warped = cv2.warpAffine(
        corrected, to_roi, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    alpha = cv2.warpAffine(mask, to_roi, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    roi = frame[top:bottom, left:right]
    # per-pixel weighted sum in one pass, rounded and saturated; weight 0 keeps the frame's
    # pixel exactly (a tenth of the time of the same sum in numpy)
    roi[...] = cv2.blendLinear(warped, roi, alpha, 1.0 - alpha)
    return frame
