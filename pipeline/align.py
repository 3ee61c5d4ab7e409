"""Stage 3: FFHQ-style alignment of a face to an N×N canonical crop.

The crop square is built from the eye and mouth landmarks the way the FFHQ dataset was made:
centred a little below the eyes, sized from the larger of the eye span and the eye–mouth span,
rotated so the eyes are level. The same function prepares training crops and run-time crops, so
models always see the kind of crop they were trained on.
"""

from __future__ import annotations

import cv2
import numpy as np

from .landmarks import LEFT_EYE, MOUTH_LEFT, MOUTH_RIGHT, RIGHT_EYE
from .types import AlignedCrop, Alignment

DEGENERATE = "degenerate alignment"
DEFAULT_SIZE = 256
SMALLEST_SIZE = 128
OVERSAMPLE = 1.25  # crop pixels per frame pixel a face gets, at least


def alignment_for(landmarks: np.ndarray, size: int = DEFAULT_SIZE) -> Alignment:
    """The similarity transform taking the face's FFHQ quad onto a size×size square."""
    lm = np.asarray(landmarks, dtype=np.float64)
    eye_left = lm[LEFT_EYE].mean(axis=0)
    eye_right = lm[RIGHT_EYE].mean(axis=0)
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[MOUTH_LEFT] + lm[MOUTH_RIGHT]) / 2
    eye_to_mouth = mouth_avg - eye_avg

    # Horizontal axis of the crop: the eye line, corrected by the perpendicular of eye→mouth.
    x_axis = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    x_axis /= np.hypot(*x_axis)
    y_axis = np.array([-x_axis[1], x_axis[0]])
    half_side = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    centre = eye_avg + eye_to_mouth * 0.1

    k = size / (2 * half_side)
    forward = np.array(
        [
            [k * x_axis[0], k * x_axis[1], size / 2 - k * centre @ x_axis],
            [k * y_axis[0], k * y_axis[1], size / 2 - k * centre @ y_axis],
        ]
    )
    inverse = cv2.invertAffineTransform(forward)
    return Alignment(size=size, forward=forward, inverse=inverse)


def crop_size_for(
    landmarks: np.ndarray, largest: int = DEFAULT_SIZE, smallest: int = SMALLEST_SIZE
) -> int:
    """The crop side a face needs: its region's side in the frame times OVERSAMPLE, rounded up
    to a multiple of 32, within [smallest, largest]. A crop finer than the frame adds no detail,
    only work: a 50-pixel face in a 640×360 frame gets a 128 crop, a quarter of 256²."""
    covered = 1.0 / alignment_for(landmarks, 1).scale  # frame pixels across the crop
    wanted = int(np.ceil(OVERSAMPLE * covered / 32.0)) * 32
    return int(np.clip(wanted, smallest, max(smallest, largest)))


class DegenerateAlignment(ValueError):
    """An alignment no face in the image can have (a runaway fit): never warped."""


def alignment_problem(alignment: Alignment, height: int, width: int) -> str | None:
    """Why this alignment cannot be a face's in a height×width frame, or None if it can.

    The crop square spans 4× the eye distance; a face's square lies between a few pixels and
    twice the frame's longer side (a face filling the frame, cut by its edges)."""
    matrices = np.concatenate([alignment.forward.ravel(), alignment.inverse.ravel()])
    if not np.isfinite(matrices).all() or alignment.scale <= 0:
        return DEGENERATE
    side = alignment.size / alignment.scale  # frame pixels across the crop
    if not 4.0 <= side <= 2.0 * max(height, width):
        return DEGENERATE
    return None


def warp_to_crop(image: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Sample the crop from the image, pre-shrinking large faces so the result is not aliased.

    Raises `DegenerateAlignment` for an alignment no face in this image can have: OpenCV's
    reflected border costs time in proportion to how far outside the image a sample lies, so
    a runaway matrix would stall the call rather than fail."""
    height, width = image.shape[:2]
    if alignment_problem(alignment, height, width) is not None:
        raise DegenerateAlignment(f"{DEGENERATE}: {alignment.scale:.3g} crop pixels per pixel")
    forward = alignment.forward
    shrink = int(1.0 / alignment.scale)
    if shrink >= 2:
        image, forward = _prescaled(image, alignment, shrink)
    return cv2.warpAffine(
        image,
        forward,
        (alignment.size, alignment.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = DEFAULT_SIZE) -> AlignedCrop:
    """Warp a face to its canonical crop; landmarks come along in crop coordinates."""
    return crop_at(image, landmarks, alignment_for(landmarks, size))


def crop_at(image: np.ndarray, landmarks: np.ndarray, alignment: Alignment) -> AlignedCrop:
    """The face's crop for an alignment already made (see `alignment_problem`)."""
    return AlignedCrop(
        image=warp_to_crop(image, alignment),
        landmarks=alignment.to_crop(landmarks),
        alignment=alignment,
    )


def _prescaled(
    image: np.ndarray, alignment: Alignment, shrink: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the face's region out, shrink it with area averaging, and adapt the matrix."""
    n = alignment.size
    corners = alignment.to_frame(np.array([[0, 0], [n, 0], [0, n], [n, n]], dtype=np.float32))
    height, width = image.shape[:2]
    left, top = np.floor(corners.min(axis=0)).astype(int) - 2
    right, bottom = np.ceil(corners.max(axis=0)).astype(int) + 2
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(right, width), min(bottom, height)
    if right - left < 2 * shrink or bottom - top < 2 * shrink:
        return image, alignment.forward
    roi = image[top:bottom, left:right]
    small_size = ((right - left) // shrink, (bottom - top) // shrink)
    small = cv2.resize(roi, small_size, interpolation=cv2.INTER_AREA)
    sx = (right - left) / small_size[0]
    sy = (bottom - top) / small_size[1]
    # Small-image pixel centres map to full-image points p = s * (q + 0.5) - 0.5 + offset.
    to_full = np.array([[sx, 0, left + 0.5 * sx - 0.5], [0, sy, top + 0.5 * sy - 0.5], [0, 0, 1]])
    return small, alignment.forward @ to_full
