"""Memory stays flat with length: a 5× longer recording peaks at about the same resident
memory in its worker (VmHWM, recorded per file in the manifest)."""

from __future__ import annotations

import sys

import pytest
from batchtools import manifest_rows, run_cli
from clips import write_clip

FAST = ("--mode", "blur", "--detect-every", "10", "--min-face", "80", "--quiet")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_peak_memory_does_not_grow_with_length(tmp_path):
    peaks = {}
    for name, frames in (("short", 50), ("long", 250)):
        root, out = tmp_path / name, tmp_path / f"{name}-out"
        root.mkdir()
        write_clip(root / "clip.mp4", size=(640, 360), frames=frames)
        # A fresh batch (and so a fresh worker process) for each, so each peak is its own.
        assert run_cli("batch", root, "-o", out, "--workers", "1", *FAST) == 0
        row = manifest_rows(out)["clip.mp4"]
        assert row["frames"] == frames
        peaks[name] = row["peak_rss_mb"]
    # Keeping the 200 extra frames (675 KiB each) would add 130 MiB.
    assert peaks["long"] - peaks["short"] < 40, peaks
