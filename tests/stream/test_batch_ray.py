"""`--ray local`: the same batch on a private Ray instance, same manifest and report, and no
Ray process left behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from batchtools import FAST, frame_times, manifest_rows, run_batch_process
from clips import write_clip

pytest.importorskip("ray", reason="needs Ray (pip install 'faceanon[ray]')")


def processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


@pytest.fixture
def ray_tmp(monkeypatch):
    """A short private folder for Ray's sockets; any Ray process still using it afterwards is
    a failure (and is ended by its process id)."""
    folder = tempfile.mkdtemp(prefix="fa-ray-", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", folder)
    yield folder
    leftovers = processes_mentioning(folder)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)
    assert not leftovers, f"Ray processes left running: {leftovers}"


def test_batch_on_a_local_ray_instance(tmp_path, ray_tmp):
    root, out = tmp_path / "in", tmp_path / "out"
    (root / "cam").mkdir(parents=True)
    write_clip(root / "a.mp4", frames=8)
    write_clip(root / "cam" / "b.avi", frames=6)
    write_clip(root / "cam" / "long.mkv", frames=50, rate=25, audio="aac")
    done = run_batch_process(
        root, "-o", out, "--ray", "local", "--workers", "2", "--segment-seconds", "1", *FAST
    )
    assert done.returncode == 0, done.stderr
    rows = manifest_rows(out)
    assert {r["state"] for r in rows.values()} == {"done"}
    assert {rel: r["output"] for rel, r in rows.items()} == {
        "a.mp4": "a.mp4",
        "cam/b.avi": "cam/b.mp4",
        "cam/long.mkv": "cam/long.mkv",
    }
    assert rows["cam/long.mkv"]["parts"] >= 2  # one task per part of the long file
    assert len(frame_times(out / "cam" / "long.mkv")) == 50
    assert len(frame_times(out / "cam" / "b.mp4")) == 6
    report = json.loads((out / "batch-report.json").read_text())
    assert report["totals"]["done"] == 3 and report["totals"]["frames"] == 64
    assert processes_mentioning(ray_tmp) == []  # the driver shut its Ray instance down
