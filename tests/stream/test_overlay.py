"""The readout names the identity mode that made the swaps."""

from __future__ import annotations

import numpy as np

from pipeline.types import Action, Box, Face, FaceOutcome, FrameResult
from stream.overlay import Readout


def _result(action: Action) -> FrameResult:
    face = Face(Box(200, 60, 300, 160), np.zeros((68, 2), np.float32), 1.0)
    return FrameResult(np.zeros((240, 640, 3), np.uint8), (FaceOutcome(face, action),))


def test_header_names_the_identity_mode_when_faces_were_swapped():
    swapped = _result(Action.SWAPPED)
    plain = Readout().draw(swapped.image, swapped)
    named = Readout("k-Same k=5").draw(swapped.image, swapped)
    header = (slice(0, 40), slice(0, 640))
    assert named[header].sum() > plain[header].sum()  # more text in the header line
    blurred = _result(Action.BLURRED)
    assert np.array_equal(
        Readout("k-Same k=5").draw(blurred.image, blurred), Readout().draw(blurred.image, blurred)
    )
