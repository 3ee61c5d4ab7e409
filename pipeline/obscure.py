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
UNIFORM_BYTE_SD = 73.9  # the standard deviation of a uniform random byte
SMOOTH_GRID = 4  # grid cells per block where the blocks are smoothed


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
    # The blocks are smoothed on a small grid (half a block's sigma) and then enlarged: the
    # same soft cover as blurring at full size, at a fraction of the cost on large faces.
    coarse = cv2.resize(roi, (BLOCKS, BLOCKS), interpolation=cv2.INTER_AREA)
    grid = BLOCKS * SMOOTH_GRID
    fine = cv2.resize(coarse, (grid, grid), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    fine = cv2.GaussianBlur(fine, (0, 0), sigmaX=SMOOTH_GRID / 2, borderType=cv2.BORDER_REPLICATE)
    cover = cv2.resize(fine, (w, h), interpolation=cv2.INTER_LINEAR)
    # Uniform noise of NOISE_SIGMA's spread (from raw random bytes: a fifth of the time of
    # Gaussian draws, and no easier to undo).
    noise = np.frombuffer(rng.bytes(cover.size), np.uint8).reshape(cover.shape)
    cover += (noise.astype(np.float32) - 127.5) * np.float32(NOISE_SIGMA / UNIFORM_BYTE_SD)
    cover = np.clip(cover, 0, 255).astype(np.uint8)

    # Ellipse in frame coordinates around the (unclipped) grown box, soft only at its rim.
    cx, cy = box.center
    cy -= 0.05 * box.height
    ax, ay = box.width * COVER_EXPAND / 2, box.height * COVER_EXPAND / 2
    dx = ((np.arange(left, right, dtype=np.float32) - cx) / ax) ** 2
    dy = ((np.arange(top, bottom, dtype=np.float32) - cy) / ay) ** 2
    alpha = np.clip((1.0 - np.sqrt(dy[:, None] + dx[None, :])) / RIM, 0.0, 1.0)
    roi[...] = cv2.blendLinear(cover, roi, alpha, 1.0 - alpha)
    return frame


def obscure_whole(image: np.ndarray) -> np.ndarray:
    """A copy of `image` covered edge to edge (a photo in which no face was found, where a face
    the detector missed could be anywhere): the face cover over the whole image, whose ellipse
    then reaches past every corner."""
    height, width = image.shape[:2]
    return obscure(image.copy(), Box(0, 0, width, height))
