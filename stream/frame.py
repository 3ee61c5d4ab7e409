"""`Frame`: what every source yields and every sink takes."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """A BGR uint8 image with its place in the stream.

    `index` counts frames from 0 in source order; `pts` is the presentation timestamp in
    `time_base` units (exact rational time, as the container stores it) when the source has
    one; `time` is the same instant in seconds; `duration` (same unit) is how long the frame
    is shown, when the source says. Live sources also stamp `captured`, the
    `time.monotonic()` at which the frame was grabbed, for latency measurements.
    """

    image: np.ndarray
    index: int
    pts: int | None = None
    time_base: Fraction | None = None
    captured: float | None = None
    duration: int | None = None

    @property
    def time(self) -> float | None:
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    def with_image(self, image: np.ndarray) -> Frame:
        """The same frame (index, timing) carrying other pixels."""
        return Frame(
            image=image,
            index=self.index,
            pts=self.pts,
            time_base=self.time_base,
            captured=self.captured,
            duration=self.duration,
        )
