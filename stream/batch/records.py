"""The plain data that travels between the batch driver and its workers (picklable, frozen)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

from ..report import Tally


@dataclass(frozen=True)
class Figures:
    """What processing one file (or one part of it) amounted to."""

    frames: int = 0
    faces: int = 0
    swapped: int = 0
    blurred: int = 0
    seconds: float = 0.0
    peak_rss_mb: float | None = None  # the worker process's high-water mark afterwards

    @staticmethod
    def of(tally: Tally, seconds: float, peak_rss_mb: float | None) -> Figures:
        counts = (tally.frames, tally.faces, tally.swapped, tally.blurred)
        return Figures(*counts, seconds, peak_rss_mb)

    def plus(self, other: Figures) -> Figures:
        peaks = [p for p in (self.peak_rss_mb, other.peak_rss_mb) if p is not None]
        return Figures(
            self.frames + other.frames,
            self.faces + other.faces,
            self.swapped + other.swapped,
            self.blurred + other.blurred,
            self.seconds + other.seconds,
            max(peaks) if peaks else None,
        )


@dataclass(frozen=True)
class FileJob:
    """Anonymize a whole file: `source` → `output`; `report`: a per-file JSON report path."""

    rel: str
    kind: str  # "video" or "image"
    source: Path
    output: Path
    report: Path | None = None

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.rel, None)


@dataclass(frozen=True)
class PartJob:
    """Anonymize the frames of `source` with start <= pts < end (stream time base; end None:
    to the end) into the part file `output`, video only, no audio."""

    rel: str
    part: int
    source: Path
    output: Path
    start_pts: int | None
    end_pts: int | None

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.rel, self.part)


Job = FileJob | PartJob


@dataclass(frozen=True)
class JobResult:
    """How a job ended. `reason`: one line when it failed; `hash`: the input's content hash
    (whole-file jobs); `tally`: the detailed counts, for reports."""

    rel: str
    part: int | None
    ok: bool
    figures: Figures
    reason: str | None = None
    hash: str | None = None
    tally: Tally | None = None
    pid: int | None = None
    lost: bool = False  # the worker died under it: the job itself may be innocent

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.rel, self.part)


def merge_tallies(tallies: list[Tally]) -> Tally:
    """One tally for a file from the tallies of its parts."""
    total = Tally()
    for tally in tallies:
        for field in fields(Tally):
            mine, theirs = getattr(total, field.name), getattr(tally, field.name)
            if field.name == "max_faces_in_frame":
                total.max_faces_in_frame = max(mine, theirs)
            elif isinstance(mine, (Counter, list)):
                mine += theirs
            else:
                setattr(total, field.name, mine + theirs)
    return total


def tally_to_json(tally: Tally) -> str:
    return json.dumps({f.name: getattr(tally, f.name) for f in fields(Tally)})


def tally_from_json(text: str) -> Tally:
    values = json.loads(text)
    counters = {f.name for f in fields(Tally) if isinstance(getattr(Tally(), f.name), Counter)}
    return Tally(**{k: Counter(v) if k in counters else v for k, v in values.items()})
