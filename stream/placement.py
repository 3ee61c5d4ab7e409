"""Where the readout panels go: beside the faces, inside the frame, never over a face.

A face's zone is its detector box grown to take in the forehead and hairline (dlib's box starts
at the brows) and the chin. A panel is tried above its face's zone, then below, then to the
right and to the left, each at a few alignments; the first spot that lies inside the frame
and touches no face zone and no panel placed before wins. When no spot is free (a face fills
the frame), the spot that covers the least face is taken.

    zones = [face_zone(face.box, (width, height)) for face in faces]
    spot = place_panel((panel_w, panel_h), zones[0], zones, taken, (width, height))
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.types import Box

ABOVE_FACE = 0.5  # forehead and hairline above dlib's box, as a fraction of the box height
BELOW_FACE = 0.15  # the chin below it
BESIDE_FACE = 0.08  # ears and cheeks to each side, as a fraction of the box width
GAP = 4  # pixels between a panel and what it must not touch


def face_zone(box: Box, frame_size: tuple[int, int]) -> Box:
    """The part of the frame a face takes, forehead and chin included, clipped to the frame."""
    width, height = frame_size
    return Box(
        max(0.0, box.left - BESIDE_FACE * box.width),
        max(0.0, box.top - ABOVE_FACE * box.height),
        min(float(width), box.right + BESIDE_FACE * box.width),
        min(float(height), box.bottom + BELOW_FACE * box.height),
    )


def overlap(a: Box, b: Box) -> float:
    """The area two boxes share."""
    return max(0.0, min(a.right, b.right) - max(a.left, b.left)) * max(
        0.0, min(a.bottom, b.bottom) - max(a.top, b.top)
    )


def place_panel(
    size: tuple[int, int],
    zone: Box,
    faces: Sequence[Box],
    taken: Sequence[Box],
    frame_size: tuple[int, int],
) -> Box:
    """The spot for a panel of `size` (width, height) beside `zone`: inside the frame, clear of
    every face zone in `faces` and every panel in `taken`, or else the least harmful one."""
    candidates = [_inside(spot, size, frame_size) for spot in _beside(size, zone)]
    return _best(candidates, faces, taken)


def place_corner(
    size: tuple[int, int], faces: Sequence[Box], taken: Sequence[Box], frame_size: tuple[int, int]
) -> Box:
    """The spot for a panel in a corner of the frame (top left first) clear of the faces."""
    width, height = size
    right, bottom = frame_size[0] - width - GAP, frame_size[1] - height - GAP
    corners = [(GAP, GAP), (right, GAP), (GAP, bottom), (right, bottom)]
    candidates = [_inside(Box(x, y, x + width, y + height), size, frame_size) for x, y in corners]
    return _best(candidates, faces, taken)


def _beside(size: tuple[int, int], zone: Box) -> list[Box]:
    width, height = size
    centre_x, centre_y = zone.center
    columns = [zone.left, centre_x - width / 2, zone.right - width]
    rows = [zone.top, centre_y - height / 2, zone.bottom - height]
    above = [Box(x, zone.top - GAP - height, x + width, zone.top - GAP) for x in columns]
    below = [Box(x, zone.bottom + GAP, x + width, zone.bottom + GAP + height) for x in columns]
    right = [Box(zone.right + GAP, y, zone.right + GAP + width, y + height) for y in rows]
    left = [Box(zone.left - GAP - width, y, zone.left - GAP, y + height) for y in rows]
    return above + below + right + left


def _inside(spot: Box, size: tuple[int, int], frame_size: tuple[int, int]) -> Box:
    """`spot` moved (not resized) into the frame as far as the frame allows."""
    width, height = size
    left = min(max(0.0, spot.left), max(0.0, frame_size[0] - width))
    top = min(max(0.0, spot.top), max(0.0, frame_size[1] - height))
    return Box(round(left), round(top), round(left) + width, round(top) + height)


def _best(candidates: list[Box], faces: Sequence[Box], taken: Sequence[Box]) -> Box:
    def harm(spot: Box) -> tuple[float, float]:
        padded = Box(spot.left - GAP, spot.top - GAP, spot.right + GAP, spot.bottom + GAP)
        on_faces = sum(overlap(spot, face) for face in faces)
        on_panels = sum(overlap(padded, panel) for panel in taken)
        return on_faces, on_panels

    return min(candidates, key=harm)  # the first of the harmless ones, when there are any
