"""The running readout drawn on the preview window (never on recordings), beside each face.

Per face: the verdict the swap started from, pixel similarity, and whether a face recogniser
would still match the output to the original ("re-identifiable: no"), from the last identity
measurement of its track (measured on a schedule, so carried between frames). With `verbose`,
the descriptor distance and the threshold it is judged by follow. A header gives faces,
actions, speed and the identity mode that made the swaps. Panels are placed by `placement`:
inside the frame, never over a face; when a face leaves no room, in a band below the picture.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.similarity import SAME_PERSON_DISTANCE
from pipeline.types import Action, Box, FaceOutcome, FrameResult, Similarity

from .placement import GAP, face_zone, overlap, place_corner, place_panel

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_OK = (80, 200, 80)
_RISK = (40, 60, 230)
_NEUTRAL = (230, 230, 230)


class Readout:
    """Carries per-track identity figures between frames and draws the overlay."""

    def __init__(
        self, identity: bool = True, verbose: bool = False, identity_mode: str | None = None
    ) -> None:
        self.identity: dict[int, Similarity] = {}
        self.measures_identity = identity
        self.verbose = verbose
        self.band_height = 0  # the band below the picture, for panels with no room beside
        self.identity_mode = identity_mode  # what replaces identities, e.g. "k-Same k=5"

    def remember(self, result: FrameResult) -> None:
        for outcome in result.faces:
            figures = outcome.result.similarity if outcome.result else None
            track = outcome.face.track_id
            if figures is not None and figures.identity is not None and track is not None:
                self.identity[track] = figures

    def lines(self, outcome: FaceOutcome) -> tuple[list[str], tuple[int, int, int]]:
        """The text of one face's panel and its colour."""
        if outcome.action is Action.BLURRED:
            return [f"covered: {outcome.reason}"], _NEUTRAL
        lines = []
        if outcome.verdict is not None:
            was = outcome.verdict.gender.value[0].upper()
            became = outcome.verdict.gender.opposite.value[0].upper()
            lines.append(f"{was}->{became} ({outcome.verdict.confidence:.0%})")
        if outcome.result is not None:
            lines.append(f"pixels {outcome.result.similarity.pixel:.1f}%")
        known = self.identity.get(outcome.face.track_id) if outcome.face.track_id else None
        if outcome.result is not None and outcome.result.similarity.identity is not None:
            known = outcome.result.similarity
        if known is None or known.identity_distance is None:
            if self.measures_identity:
                lines.append("re-identifiable: checking")
            return lines, _OK
        risk = bool(known.reid_risk)
        lines.append(f"re-identifiable: {'YES' if risk else 'no'}")
        if self.verbose:
            lines.append(
                f"distance {known.identity_distance:.2f} (match < {SAME_PERSON_DISTANCE:.2f})"
            )
        return lines, _RISK if risk else _OK

    def draw(
        self,
        image: np.ndarray,
        result: FrameResult,
        fps: float | None = None,
        latency_ms: float | None = None,
    ) -> np.ndarray:
        """A copy of `image` with the readout drawn beside the faces. A panel that finds no
        spot clear of every face (a face filling the frame) goes to a band below the picture
        instead; once shown, the band keeps its height, so the window does not jump."""
        canvas = image.copy()
        frame_size = (image.shape[1], image.shape[0])
        scale = max(0.4, min(image.shape[:2]) / 900)
        zones = [face_zone(outcome.face.box, frame_size) for outcome in result.faces]
        header = f"faces {len(result.faces)}  swapped {result.swapped}  covered {result.blurred}"
        if fps is not None:
            header += f"  {fps:.1f} fps"
        if latency_ms is not None:
            header += f"  latency {latency_ms:.0f} ms"
        if self.identity_mode and result.swapped:
            header += f"  identity: {self.identity_mode}"
        panels = [([header], _NEUTRAL, None)]
        order = sorted(range(len(zones)), key=lambda i: (zones[i].left, zones[i].top))
        for i in order:
            lines, colour = self.lines(result.faces[i])
            if lines:
                panels.append((lines, colour, zones[i]))
        taken: list[Box] = []
        homeless: list[tuple[list[str], tuple[int, int, int], Box | None]] = []
        for lines, colour, zone in panels:
            size = _panel_size(lines, scale)
            if zone is None:
                spot = place_corner(size, zones, taken, frame_size)
            else:
                spot = place_panel(size, zone, zones, taken, frame_size)
            if any(overlap(spot, other) for other in zones):
                homeless.append((lines, colour, zone))
                continue
            _panel(canvas, lines, spot, scale, colour)
            taken.append(spot)
        return self._with_band(canvas, homeless, scale)

    def _with_band(
        self,
        canvas: np.ndarray,
        panels: list[tuple[list[str], tuple[int, int, int], Box | None]],
        scale: float,
    ) -> np.ndarray:
        """`canvas` with a band below it holding `panels` in a row (each under its face's
        centre where there is room), at least as tall as any band shown before."""
        width = canvas.shape[1]
        sizes = [_panel_size(lines, scale) for lines, _, _ in panels]
        needed = max((h for _, h in sizes), default=0) + 2 * GAP if panels else 0
        self.band_height = max(self.band_height, needed)
        if not self.band_height:
            return canvas
        band = np.zeros((self.band_height, width, 3), np.uint8)
        cursor = GAP
        for (lines, colour, zone), (w, h) in zip(panels, sizes, strict=True):
            wanted = zone.center[0] - w / 2 if zone is not None else GAP
            left = int(min(max(cursor, wanted), max(cursor, width - w - GAP)))
            _panel(band, lines, Box(left, GAP, left + w, GAP + h), scale, colour)
            cursor = left + w + GAP
        return np.vstack([canvas, band])


def _metrics(scale: float) -> tuple[int, int]:
    """Line thickness and line step for a text scale."""
    thickness = max(1, round(scale * 1.5))
    height = cv2.getTextSize("Mg", _FONT, scale, thickness)[0][1]
    return thickness, height + int(8 * scale) + 2


def _panel_size(lines: list[str], scale: float) -> tuple[int, int]:
    thickness, step = _metrics(scale)
    width = max(cv2.getTextSize(line, _FONT, scale, thickness)[0][0] for line in lines) + 8
    return width, step * len(lines) + 4


def _panel(
    canvas: np.ndarray, lines: list[str], spot: Box, scale: float, colour: tuple[int, int, int]
) -> None:
    """Text lines on a dark translucent panel filling `spot` (clipped to the canvas)."""
    thickness, step = _metrics(scale)
    left, top = int(spot.left), int(spot.top)
    region = canvas[max(0, top) : max(0, int(spot.bottom)), max(0, left) : max(0, int(spot.right))]
    region[...] = (region * 0.35).astype(np.uint8)
    for i, line in enumerate(lines):
        baseline = top + step * (i + 1) - int(4 * scale)
        origin = (left + 4, baseline)
        cv2.putText(canvas, line, origin, _FONT, scale, colour, thickness, cv2.LINE_AA)
