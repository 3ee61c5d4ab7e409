"""Fail-closed cover: irreversibly hide a face the pipeline found but will not swap.

The region is first reduced to a few coarse blocks (which throws the face's detail away for
good), smoothed so no block edges show, then mixed with fresh random noise, and laid over the
face with a soft-edged ellipse that reaches well past the landmarks (forehead and chin).
"""

from __future__ import annotations

import cv2
import numpy as np

from .types import Box

COVER_EXPAND = 1.8  # ellipse size relative to the face box: its corners stay fully covered
RIM = 0.12  # the soft outer part of the ellipse, as a fraction of its radius
BLOCKS = 6  # the coarse grid across the covered region
NOISE_SIGMA = 14.0


def cover_region(box: Box, frame_shape: tuple[int, ...]) -> Box | None:
    """The integer frame rectangle that covering `box` will touch, or None if off-frame."""
    grown = box.expanded(COVER_EXPAND)
    # Faces boxes from dlib start at the brows: push the cover up to include the forehead.
    grown = Box(grown.left, grown.top - 0.1 * box.height, grown.right, grown.bottom)
    height, width = frame_shape[:2]
    left, top = max(0, int(grown.left)), max(0, int(grown.top))
    right, bottom = min(width, int(np.ceil(grown.right))), min(height, int(np.ceil(grown.bottom)))
    if right - left < 2 or bottom - top < 2:
        return None
    return Box(left, top, right, bottom)


def obscure(frame: np.ndarray, box: Box, rng: np.random.Generator | None = None) -> np.ndarray:
    """Cover the face in `box` in place and return the frame."""
    region = cover_region(box, frame.shape)
    if region is None:
        return frame
    rng = rng or np.random.default_rng()
    left, top, right, bottom = (
        int(region.left),
        int(region.top),
        int(region.right),
        int(region.bottom),
    )
    roi = frame[top:bottom, left:right]
    h, w = roi.shape[:2]
    coarse = cv2.resize(roi, (BLOCKS, BLOCKS), interpolation=cv2.INTER_AREA)
    cover = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    cover = cv2.GaussianBlur(cover, (0, 0), sigmaX=max(1.0, min(w, h) / (2 * BLOCKS)))
    cover += rng.normal(0.0, NOISE_SIGMA, cover.shape).astype(np.float32)

    # Ellipse in frame coordinates around the (unclipped) grown box, soft only at its rim.
    cx, cy = box.center
    cy -= 0.05 * box.height
    ax, ay = box.width * COVER_EXPAND / 2, box.height * COVER_EXPAND / 2
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    r = np.sqrt(((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2)
    alpha = np.clip((1.0 - r) / RIM, 0.0, 1.0)[..., None]
    mixed = roi * (1 - alpha) + cover * alpha
    roi[...] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return frame
