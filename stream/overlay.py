"""The running similarity readout drawn over the preview window (never over recordings).

Per face: the verdict the swap started from, pixel similarity, and the last identity
measurement of its track (measured on a schedule, so it is carried between frames), with a
re-identification warning when a face recogniser would still match the output to the original.
A header line gives faces, actions, speed and the identity mode that made the swaps.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.types import Action, FrameResult, Similarity

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_OK = (80, 200, 80)
_RISK = (40, 60, 230)
_NEUTRAL = (230, 230, 230)


class Readout:
    """Carries per-track identity figures between frames and draws the overlay."""

    def __init__(self, identity_mode: str | None = None) -> None:
        self.identity: dict[int, Similarity] = {}
        self.identity_mode = identity_mode  # what replaces identities, e.g. "k-Same k=5"

    def remember(self, result: FrameResult) -> None:
        for outcome in result.faces:
            figures = outcome.result.similarity if outcome.result else None
            track = outcome.face.track_id
            if figures is not None and figures.identity is not None and track is not None:
                self.identity[track] = figures

    def draw(
        self,
        image: np.ndarray,
        result: FrameResult,
        fps: float | None = None,
        latency_ms: float | None = None,
    ) -> np.ndarray:
        """A copy of `image` with the readout drawn on it."""
        canvas = image.copy()
        scale = max(0.4, min(image.shape[:2]) / 900)
        for outcome in result.faces:
            box = outcome.face.box
            corner = (int(box.left), int(max(0, box.top - 6)))
            if outcome.action is Action.BLURRED:
                _label(canvas, [f"covered: {outcome.reason}"], corner, scale, _NEUTRAL)
                continue
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
            colour = _OK
            if known is not None and known.identity_distance is not None:
                risk = bool(known.reid_risk)
                colour = _RISK if risk else _OK
                verdict = "RE-ID RISK" if risk else "not matched"
                lines.append(f"id {known.identity:.0f}% d={known.identity_distance:.2f} {verdict}")
            _label(canvas, lines, corner, scale, colour)
        header = f"faces {len(result.faces)}  swapped {result.swapped}  covered {result.blurred}"
        if fps is not None:
            header += f"  {fps:.1f} fps"
        if latency_ms is not None:
            header += f"  latency {latency_ms:.0f} ms"
        if self.identity_mode and result.swapped:
            header += f"  identity: {self.identity_mode}"
        _label(canvas, [header], (8, int(28 * scale) + 8), scale, _NEUTRAL, above=False)
        return canvas


def _label(
    canvas: np.ndarray,
    lines: list[str],
    corner: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
    above: bool = True,
) -> None:
    """Text lines on a dark translucent panel, stacked upwards from `corner` if `above`."""
    if not lines:
        return
    thickness = max(1, round(scale * 1.5))
    sizes = [cv2.getTextSize(line, _FONT, scale, thickness)[0] for line in lines]
    step = max(h for _, h in sizes) + int(8 * scale) + 2
    width = max(w for w, _ in sizes) + 8
    x, y = corner
    top = y - step * len(lines) if above else y - step + 2
    top = max(0, top)
    x = int(np.clip(x, 0, max(0, canvas.shape[1] - width)))
    panel = canvas[top : top + step * len(lines) + 4, x : x + width]
    panel[...] = (panel * 0.35).astype(np.uint8)
    for i, line in enumerate(lines):
        baseline = top + step * (i + 1) - int(4 * scale)
        cv2.putText(canvas, line, (x + 4, baseline), _FONT, scale, colour, thickness, cv2.LINE_AA)
