"""Helpers for the batch tests: run the CLI, read the manifest, decode outputs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import pytest

from stream.cli import main

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ".faceanon-batch.sqlite"
FAST = ("--mode", "blur", "--detect-every", "5", "--min-face", "40", "--quiet")


def run_cli(*args: object) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def batch_command(*args: object) -> list[str]:
    """The command line of a `faceanon batch` subprocess."""
    entry = "from stream.cli import main; main()"
    return [sys.executable, "-c", entry, "batch", *(str(a) for a in args)]


def run_batch_process(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        batch_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env=subprocess_env(),
    )  # fmt: skip


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def manifest_rows(out: Path) -> dict[str, dict]:
    with sqlite3.connect(out / MANIFEST) as db:
        db.row_factory = sqlite3.Row
        return {row["input"]: dict(row) for row in db.execute("SELECT * FROM files")}


def frame_times(path: Path) -> list[float]:
    """The presentation time of every frame, decoding the whole file (so it must decode)."""
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def partials(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".partial" in p.name)
