"""Fixtures for the stream tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from clips import write_clip


@pytest.fixture
def clip(tmp_path):
    """`clip(name, **write_clip options)`: a synthetic clip in the test's folder."""

    def make(name: str = "clip.mp4", **options) -> Path:
        return write_clip(tmp_path / name, **options)

    return make
