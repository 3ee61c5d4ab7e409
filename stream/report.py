"""Tallies of what the pipeline did, and the `--report FILE.json` they become."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.similarity import SAME_PERSON_DISTANCE
from pipeline.types import Action, FaceOutcome, FrameResult

from .atomic import atomic_output

REPORT_VERSION = 1


@dataclass
class Tally:
    """Running totals over frames: faces, actions, verdicts, similarity and stage timings."""

    frames: int = 0
    faces: int = 0
    swapped: int = 0
    blurred: int = 0
    max_faces_in_frame: int = 0
    frames_with_faces: int = 0
    blur_reasons: Counter = field(default_factory=Counter)
    genders: Counter = field(default_factory=Counter)
    pixel: list[float] = field(default_factory=list)
    identity: list[float] = field(default_factory=list)
    distance: list[float] = field(default_factory=list)
    reid_risk: int = 0
    seconds: Counter = field(default_factory=Counter)
    frame_seconds: list[float] = field(default_factory=list)
    frames_over_limit: int = 0

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        self.frame_seconds.append(result.seconds)
        self.frames_over_limit += result.over_limit
        count = len(result.faces)
        self.faces += count
        self.frames_with_faces += count > 0
        self.max_faces_in_frame = max(self.max_faces_in_frame, count)
        for outcome in result.faces:
            self._add_face(outcome)
        self.seconds.update(result.timings)

    def _add_face(self, outcome: FaceOutcome) -> None:
        if outcome.action is Action.BLURRED:
            self.blurred += 1
            self.blur_reasons[outcome.reason or "unknown"] += 1
            return
        self.swapped += 1
        if outcome.verdict is not None:
            self.genders[outcome.verdict.gender.value] += 1
        if outcome.result is not None:
            figures = outcome.result.similarity
            self.pixel.append(figures.pixel)
            if figures.identity is not None and figures.identity_distance is not None:
                self.identity.append(figures.identity)
                self.distance.append(figures.identity_distance)
                self.reid_risk += bool(figures.reid_risk)

    def summary(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "faces_found": self.faces,
            "swapped": self.swapped,
            "blurred": self.blurred,
            "blur_reasons": dict(self.blur_reasons),
            "frames_with_faces": self.frames_with_faces,
            "max_faces_in_frame": self.max_faces_in_frame,
            "mean_faces_per_frame": round(self.faces / self.frames, 3) if self.frames else 0.0,
            "genders_before_swap": dict(self.genders),
            "similarity": {
                "pixel_percent_mean": _mean(self.pixel),
                "identity_percent_mean": _mean(self.identity),
                "identity_distance_mean": _mean(self.distance),
                "identity_measured_faces": len(self.distance),
                "reid_risk_faces": self.reid_risk,
                "reid_distance_threshold": SAME_PERSON_DISTANCE,
            },
            "timings_ms": {stage: round(s * 1000, 2) for stage, s in sorted(self.seconds.items())},
            "frame_ms": _spread_ms(self.frame_seconds),
            "frames_over_limit": self.frames_over_limit,
        }


def face_record(outcome: FaceOutcome, identity: str | None = None) -> dict[str, Any]:
    """One face of one image, for per-image reports; `identity`: the identity mode that made
    a swapped face (e.g. "k-Same k=5")."""
    box = outcome.face.box
    record: dict[str, Any] = {
        "box": {
            "left": round(box.left),
            "top": round(box.top),
            "right": round(box.right),
            "bottom": round(box.bottom),
        },
        "action": outcome.action.value,
    }
    if outcome.reason:
        record["reason"] = outcome.reason
    if outcome.verdict is not None:
        record["gender"] = outcome.verdict.gender.value
        record["confidence"] = round(outcome.verdict.confidence, 4)
    if outcome.result is not None:
        figures = outcome.result.similarity
        record["pixel_similarity"] = round(figures.pixel, 2)
        if identity is not None:
            record["identity_mode"] = identity
        if figures.identity is not None:
            record["identity_similarity"] = round(figures.identity, 2)
            record["identity_distance"] = round(figures.identity_distance or 0.0, 4)
            record["reid_risk"] = figures.reid_risk
    return record


def write_report(
    path: Path,
    command: str,
    settings: dict[str, Any],
    files: list[dict[str, Any]],
    totals: Tally,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the JSON report atomically."""
    document = {
        "report_version": REPORT_VERSION,
        "command": command,
        "settings": settings,
        "totals": totals.summary(),
        "files": files,
        **(extra or {}),
    }
    with atomic_output(Path(path)) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n")


def _spread_ms(seconds: list[float]) -> dict[str, float | None]:
    """Median and worst of per-frame times, in milliseconds."""
    if not seconds:
        return {"median": None, "max": None}
    ordered = sorted(seconds)
    return {
        "median": round(ordered[len(ordered) // 2] * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None
