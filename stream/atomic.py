"""Outputs appear complete or not at all: write to a temporary name, rename when done."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import InputError


def partial_name(path: Path) -> Path:
    """A hidden sibling of `path` with the same suffix (writers pick formats by suffix)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    tmp = partial_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_input_file(path: Path) -> None:
    """Fail with one clear line unless `path` is an existing, non-empty file."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")


def make_folder(folder: Path) -> None:
    """Create an output folder and its parents, or fail with one clear line."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot create output folder {folder}: {error.strerror or error}"
        ) from error


def check_writable_folder(folder: Path) -> None:
    """Fail now, with one clear line, if files cannot be created in `folder`."""
    if not folder.is_dir():
        raise InputError(f"output folder {folder} does not exist")
    probe = folder / f".faceanon-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise InputError(f"cannot write to {folder}: {error.strerror or error}") from error


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name the same file (or would, once `b` exists)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
