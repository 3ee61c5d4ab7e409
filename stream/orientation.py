"""Turn decoded video pixels upright from the stream's display matrix (or legacy `rotate` tag).

Phones store portrait clips sideways and add a display matrix telling players how to turn them.
The face detector needs upright faces, so the pixels themselves are turned and the output
carries no matrix. The decisions follow FFmpeg's own autorotate: quarter turns, with the mirror
flags of the matrix honoured.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

_TRANSPOSE = "transpose"  # swap x and y (a quarter turn counterclockwise, then a vertical flip)
_ANTI_TRANSPOSE = "anti_transpose"  # a quarter turn clockwise, then a vertical flip


@dataclass(frozen=True)
class Upright:
    """How to turn stored pixels upright. `degrees`: the clockwise turn that is applied (0, 90,
    180 or 270; mirrored matrices also flip); `steps`: the pixel operations, in order."""

    degrees: int = 0
    steps: tuple[str, ...] = ()

    @property
    def swaps_sides(self) -> bool:
        return self.degrees in (90, 270)

    def apply(self, image: np.ndarray) -> np.ndarray:
        for step in self.steps:
            image = _STEPS[step](image)
        return image


def upright_for(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> Upright:
    """The turn a stream needs, from the first frame's display matrix or the stream's legacy
    `rotate` tag (clockwise degrees)."""
    matrix = _display_matrix(frame)
    if matrix is not None:
        return _from_matrix(-frame.rotation, matrix)
    tag = next((v for k, v in stream.metadata.items() if k.lower() == "rotate"), None)
    try:
        clockwise = float(tag) if tag is not None else 0.0
    except ValueError:
        return Upright()
    return _from_matrix(clockwise, None)


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    for side in frame.side_data:
        if side.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            return struct.unpack("=9i", bytes(side)[:36])
    return None


def _from_matrix(clockwise: float, matrix: tuple[int, ...] | None) -> Upright:
    """FFmpeg's autorotate choices for a clockwise angle and (if known) the matrix's signs."""
    theta = clockwise % 360
    quarter = round(theta / 90) % 4
    if abs(theta - round(theta / 90) * 90) > 1:
        log.warning("rotation of %.0f° is not a quarter turn; turning by %d°", theta, quarter * 90)
    m = matrix or (1, 0, 0, 0, 1, 0, 0, 0, 0)
    if quarter == 1:
        return Upright(90, (_TRANSPOSE,) if m[3] > 0 else ("clockwise",))
    if quarter == 2:
        if matrix is None:
            return Upright(180, ("hflip", "vflip"))
        steps = (("hflip",) if m[0] < 0 else ()) + (("vflip",) if m[4] < 0 else ())
        return Upright(180, steps)
    if quarter == 3:
        return Upright(270, (_ANTI_TRANSPOSE,) if m[3] < 0 else ("counterclockwise",))
    return Upright(0, ("vflip",) if m[4] < 0 else ())


_STEPS = {
    "clockwise": lambda image: cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE),
    "counterclockwise": lambda image: cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE),
    "hflip": lambda image: cv2.flip(image, 1),
    "vflip": lambda image: cv2.flip(image, 0),
    _TRANSPOSE: lambda image: cv2.transpose(image),
    _ANTI_TRANSPOSE: lambda image: cv2.flip(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), 0),
}
