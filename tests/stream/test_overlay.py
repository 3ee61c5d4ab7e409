"""The webcam readout: beside each face, inside the frame, never over a face; plain wording."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.types import (
    Action,
    Box,
    Face,
    FaceOutcome,
    FrameResult,
    Gender,
    Similarity,
    SwapResult,
    Verdict,
)
from stream.overlay import Readout
from stream.placement import face_zone, overlap, place_panel

GREY = 200


def swapped(box: Box, distance: float | None = 0.79, track: int = 1) -> FaceOutcome:
    figures = Similarity(
        pixel=98.6,
        identity=None if distance is None else 86.0,
        identity_distance=distance,
        reid_risk=None if distance is None else distance < 0.6,
    )
    empty = np.zeros((4, 4), np.uint8)
    return FaceOutcome(
        face=Face(box=box, landmarks=np.zeros((68, 2), np.float32), score=1.0, track_id=track),
        action=Action.SWAPPED,
        verdict=Verdict(Gender.MALE, 0.71),
        result=SwapResult(crop=empty, mask=empty, similarity=figures),
    )


def covered(box: Box) -> FaceOutcome:
    face = Face(box=box, landmarks=np.zeros((68, 2), np.float32), score=1.0, track_id=9)
    return FaceOutcome(face=face, action=Action.BLURRED, reason="too small")


def drawn(size: tuple[int, int], outcomes: list[FaceOutcome], **readout) -> np.ndarray:
    width, height = size
    image = np.full((height, width, 3), GREY, np.uint8)
    result = FrameResult(image=image, faces=tuple(outcomes))
    return Readout(**readout).draw(image, result, fps=14.5, latency_ms=715)


def untouched_faces(canvas: np.ndarray, size: tuple[int, int], boxes: list[Box]) -> bool:
    picture = canvas[: size[1], : size[0]]
    for box in boxes:
        zone = face_zone(box, size)
        inside = picture[int(zone.top) : int(zone.bottom), int(zone.left) : int(zone.right)]
        if np.any(inside != GREY):
            return False
    return True


def test_one_face_gets_its_panel_beside_it_not_on_its_forehead():
    size = (512, 640)
    box = Box(115, 249, 385, 470)  # where dlib put the portrait's face: brows to chin
    canvas = drawn(size, [swapped(box)])
    assert canvas.shape == (640, 512, 3)  # no band needed
    assert untouched_faces(canvas, size, [box])
    forehead = canvas[
        int(box.top - 0.45 * box.height) : int(box.top), int(box.left) : int(box.right)
    ]
    assert np.all(forehead == GREY)
    assert np.count_nonzero(np.any(canvas != GREY, axis=2)) > 2000  # header and face panel


def test_four_faces_each_readout_clear_of_every_face():
    size = (1280, 720)
    boxes = [
        Box(80 + 300 * i, 300 + 20 * (i % 2), 300 + 300 * i, 520 + 20 * (i % 2)) for i in range(4)
    ]
    outcomes = [swapped(box, track=i + 1) for i, box in enumerate(boxes[:3])]
    outcomes.append(covered(boxes[3]))
    canvas = drawn(size, outcomes, verbose=True)
    assert canvas.shape == (720, 1280, 3)
    assert untouched_faces(canvas, size, boxes)
    above = canvas[:300, :]  # every panel went above its face: four panels and the header
    assert np.count_nonzero(np.any(above != GREY, axis=2)) > 4 * 1500


def test_a_face_filling_the_frame_gets_its_readout_in_a_band_below():
    box = Box(120, 110, 400, 360)
    readout = Readout()
    image = np.full((400, 512, 3), GREY, np.uint8)
    result = FrameResult(image=image, faces=(swapped(box),))
    canvas = readout.draw(image, result)
    assert canvas.shape[0] > 400 and canvas.shape[1] == 512
    assert np.all(canvas[:400] == GREY)  # the picture itself is not drawn on
    assert np.any(canvas[400:] != 0)
    # the band stays once shown, so the window keeps its size when the face moves away
    again = readout.draw(image, FrameResult(image=image, faces=()))
    assert again.shape == canvas.shape


def test_panels_stay_inside_the_frame_at_its_edges():
    size = (640, 480)
    for box in (Box(0, 0, 160, 160), Box(480, 320, 640, 480), Box(500, 0, 640, 150)):
        zone = face_zone(box, size)
        spot = place_panel((150, 60), zone, [zone], [], size)
        assert spot.left >= 0 and spot.right <= 640 and spot.top >= 0 and spot.bottom <= 480
        assert overlap(spot, zone) == 0


@pytest.mark.parametrize(
    ("distance", "verbose", "expected"),
    [
        (0.79, False, ["M->F (71%)", "pixels 98.6%", "re-identifiable: no"]),
        (0.41, False, ["M->F (71%)", "pixels 98.6%", "re-identifiable: YES"]),
        (
            0.79,
            True,
            ["M->F (71%)", "pixels 98.6%", "re-identifiable: no", "distance 0.79 (match < 0.60)"],
        ),
        (None, False, ["M->F (71%)", "pixels 98.6%", "re-identifiable: checking"]),
    ],
)
def test_identity_is_said_as_whether_a_recogniser_still_matches(distance, verbose, expected):
    lines, _ = Readout(verbose=verbose).lines(swapped(Box(0, 0, 50, 50), distance, track=3))
    assert lines == expected


def test_without_identity_measurement_no_identity_line():
    lines, _ = Readout(identity=False).lines(swapped(Box(0, 0, 50, 50), None))
    assert lines == ["M->F (71%)", "pixels 98.6%"]


def _one_face(action: Action) -> FrameResult:
    face = Face(Box(200, 60, 300, 160), np.zeros((68, 2), np.float32), 1.0)
    return FrameResult(np.zeros((240, 640, 3), np.uint8), (FaceOutcome(face, action),))


def test_header_names_the_identity_mode_when_faces_were_swapped():
    swapped = _one_face(Action.SWAPPED)
    plain = Readout().draw(swapped.image, swapped)
    named = Readout(identity_mode="k-Same k=5").draw(swapped.image, swapped)
    assert named.sum() > plain.sum()  # more text in the header
    blurred = _one_face(Action.BLURRED)
    assert np.array_equal(
        Readout(identity_mode="k-Same k=5").draw(blurred.image, blurred),
        Readout().draw(blurred.image, blurred),
    )
