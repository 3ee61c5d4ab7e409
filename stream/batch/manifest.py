"""The batch's memory: one SQLite file in the output folder (WAL mode, so a SIGKILL at any
moment leaves it consistent) with each input's state, content hash, output and figures, and
the parts of inputs split into segments. Only the driver writes it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .discover import MediaFile
from .naming import Placement
from .records import Figures

MANIFEST_NAME = ".faceanon-batch.sqlite"
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    input TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    output TEXT NOT NULL,
    note TEXT,
    state TEXT NOT NULL,
    size INTEGER,
    mtime_ns INTEGER,
    hash TEXT,
    reason TEXT,
    frames INTEGER,
    faces INTEGER,
    swapped INTEGER,
    blurred INTEGER,
    seconds REAL,
    peak_rss_mb REAL,
    parts INTEGER NOT NULL DEFAULT 1,
    started INTEGER NOT NULL DEFAULT 0,
    finished INTEGER NOT NULL DEFAULT 0,
    worker INTEGER,
    updated REAL
);
CREATE TABLE IF NOT EXISTS parts (
    input TEXT NOT NULL,
    part INTEGER NOT NULL,
    start_pts INTEGER,
    end_pts INTEGER,
    path TEXT NOT NULL,
    state TEXT NOT NULL,
    frames INTEGER,
    faces INTEGER,
    swapped INTEGER,
    blurred INTEGER,
    seconds REAL,
    peak_rss_mb REAL,
    reason TEXT,
    started INTEGER NOT NULL DEFAULT 0,
    tally TEXT,
    PRIMARY KEY (input, part)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


@dataclass(frozen=True)
class FileRecord:
    """One input's row."""

    input: str
    kind: str
    output: str
    note: str | None
    state: str
    size: int | None
    mtime_ns: int | None
    hash: str | None
    reason: str | None
    frames: int | None
    faces: int | None
    swapped: int | None
    blurred: int | None
    seconds: float | None
    peak_rss_mb: float | None
    parts: int
    started: int
    finished: int
    worker: int | None
    updated: float | None

    @property
    def figures(self) -> Figures:
        return Figures(
            self.frames or 0,
            self.faces or 0,
            self.swapped or 0,
            self.blurred or 0,
            self.seconds or 0.0,
            self.peak_rss_mb,
        )


@dataclass(frozen=True)
class PartRecord:
    """One segment of a split input."""

    input: str
    part: int
    start_pts: int | None
    end_pts: int | None
    path: str
    state: str
    figures: Figures
    reason: str | None
    started: int
    tally: str | None  # the part's Tally as JSON, for the file's report


class Manifest:
    """Open (or create) the manifest at `path`; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, rows: Iterable[tuple] | tuple = ()) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if isinstance(rows, tuple):
                self._db.execute(sql, rows)
            else:
                self._db.executemany(sql, rows)

    def files(self) -> dict[str, FileRecord]:
        cursor = self._db.execute(f"SELECT {_columns(FileRecord)} FROM files ORDER BY input")
        return {row[0]: FileRecord(*row) for row in cursor}

    def file(self, rel: str) -> FileRecord | None:
        cursor = self._db.execute(
            f"SELECT {_columns(FileRecord)} FROM files WHERE input = ?", (rel,)
        )
        row = cursor.fetchone()
        return FileRecord(*row) if row else None

    def recover(self) -> int:
        """Put what a killed run left running back to pending; return how many inputs."""
        count = self._db.execute("SELECT COUNT(*) FROM files WHERE state = ?", (RUNNING,))
        stale = count.fetchone()[0]
        self._write("UPDATE files SET state = ?, worker = NULL WHERE state = ?", (PENDING, RUNNING))
        self._write("UPDATE parts SET state = ? WHERE state = ?", (PENDING, RUNNING))
        return stale

    def plan(self, file: MediaFile, placement: Placement, state: str) -> None:
        """Record an input and where it goes; `state` pending or done (kept as it was)."""
        self._write(
            """INSERT INTO files (input, kind, output, note, state, size, mtime_ns, updated)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(input) DO UPDATE SET kind = excluded.kind, output = excluded.output,
                note = excluded.note, state = excluded.state, size = excluded.size,
                mtime_ns = excluded.mtime_ns, updated = excluded.updated""",
            (
                file.rel,
                file.kind,
                placement.output,
                placement.note,
                state,
                file.size,
                file.mtime_ns,
                time.time(),
            ),
        )

    def set_hash(self, rel: str, digest: str) -> None:
        self._write("UPDATE files SET hash = ? WHERE input = ?", (digest, rel))

    def start(self, rel: str, parts: int = 1) -> None:
        self._write(
            """UPDATE files SET state = ?, started = started + 1, parts = ?, reason = NULL,
            updated = ? WHERE input = ?""",
            (RUNNING, parts, time.time(), rel),
        )

    def finish(self, rel: str, figures: Figures, digest: str | None) -> None:
        self._write(
            """UPDATE files SET state = ?, finished = finished + 1, reason = NULL,
            hash = COALESCE(?, hash), frames = ?, faces = ?, swapped = ?, blurred = ?,
            seconds = ?, peak_rss_mb = ?, worker = NULL, updated = ? WHERE input = ?""",
            (DONE, digest, *_figure_values(figures), time.time(), rel),
        )

    def keep(self, rel: str, note: str) -> None:
        """Record an output found complete before this batch ever made it."""
        self._write(
            "UPDATE files SET state = ?, note = ?, updated = ? WHERE input = ?",
            (DONE, note, time.time(), rel),
        )

    def fail(self, rel: str, reason: str, digest: str | None = None) -> None:
        self._write(
            """UPDATE files SET state = ?, reason = ?, hash = COALESCE(?, hash), worker = NULL,
            updated = ? WHERE input = ?""",
            (FAILED, reason, digest, time.time(), rel),
        )

    def set_parts(self, rel: str, spans: list[tuple[int | None, int | None, str]]) -> None:
        """Replace the input's parts with `spans` (start pts, end pts, part file), pending."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM parts WHERE input = ?", (rel,))
            self._db.executemany(
                "INSERT INTO parts (input, part, start_pts, end_pts, path, state) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(rel, i, s, e, p, PENDING) for i, (s, e, p) in enumerate(spans)],
            )

    def parts(self, rel: str) -> list[PartRecord]:
        cursor = self._db.execute(
            """SELECT input, part, start_pts, end_pts, path, state, frames, faces, swapped,
            blurred, seconds, peak_rss_mb, reason, started, tally FROM parts WHERE input = ?
            ORDER BY part""",
            (rel,),
        )
        return [
            PartRecord(*row[:6], Figures(*(v or 0 for v in row[6:11]), row[11]), *row[12:])
            for row in cursor
        ]

    def drop_parts(self, rel: str) -> None:
        self._write("DELETE FROM parts WHERE input = ?", (rel,))

    def start_part(self, rel: str, part: int) -> None:
        self._write(
            "UPDATE parts SET state = ?, started = started + 1 WHERE input = ? AND part = ?",
            (RUNNING, rel, part),
        )

    def finish_part(self, rel: str, part: int, figures: Figures, tally: str | None) -> None:
        self._write(
            """UPDATE parts SET state = ?, reason = NULL, frames = ?, faces = ?, swapped = ?,
            blurred = ?, seconds = ?, peak_rss_mb = ?, tally = ? WHERE input = ? AND part = ?""",
            (DONE, *_figure_values(figures), tally, rel, part),
        )

    def fail_part(self, rel: str, part: int, reason: str) -> None:
        self._write(
            "UPDATE parts SET state = ?, reason = ? WHERE input = ? AND part = ?",
            (FAILED, reason, rel, part),
        )

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None


def _columns(kind: type) -> str:
    return ", ".join(kind.__dataclass_fields__)


def _figure_values(figures: Figures) -> tuple:
    return (
        figures.frames,
        figures.faces,
        figures.swapped,
        figures.blurred,
        round(figures.seconds, 3),
        figures.peak_rss_mb,
    )
