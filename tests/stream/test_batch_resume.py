"""A batch killed with SIGKILL at any moment finishes on the next run: no partial output under
a final name, no stale temporary files, no finished file processed twice."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from batchtools import (
    FAST,
    ROOT,
    batch_command,
    frame_times,
    manifest_rows,
    partials,
    run_batch_process,
    subprocess_env,
)
from clips import write_clip

CLIPS = {f"cam{i % 2}/clip{i}.mp4": 40 + 4 * i for i in range(6)}


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_resume_after_sigkill_mid_batch(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    for rel, frames in CLIPS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_clip(root / rel, frames=frames)
    args = (root, "-o", out, "--workers", "1", *FAST)
    process = subprocess.Popen(batch_command(*args), cwd=ROOT, env=subprocess_env())
    deadline = time.monotonic() + 90
    try:
        # Kill once a file is finished and another is being written (a temporary file exists).
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if (out / ".faceanon-batch.sqlite").exists() and partials(out):
                rows = manifest_rows(out)
                if any(r["state"] == "done" for r in rows.values()):
                    workers = children(process.pid)
                    # still mid-file after the scan (a small clip can finish meanwhile)
                    if partials(out):
                        process.send_signal(signal.SIGKILL)
                        break
        else:
            raise AssertionError("the batch never got to the middle of a file")
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    time.sleep(0.5)
    assert not [pid for pid in workers if alive(pid)], "workers outlived the killed batch"

    before = manifest_rows(out)
    done_before = {rel for rel, r in before.items() if r["state"] == "done"}
    interrupted = {rel for rel, r in before.items() if r["state"] == "running"}
    assert done_before and interrupted and len(done_before) < len(CLIPS)
    assert partials(out)  # the killed run left a temporary file behind
    for rel in interrupted:
        assert not (out / rel).exists()  # never a partial output under a final name

    finished = run_batch_process(*args)
    assert finished.returncode == 0, finished.stderr
    rows = manifest_rows(out)
    assert set(rows) == set(CLIPS)
    for rel, frames in CLIPS.items():
        assert rows[rel]["state"] == "done" and rows[rel]["finished"] == 1, rel
        assert rows[rel]["frames"] == frames
        assert len(frame_times(out / rel)) == frames  # decodes fully
    for rel in done_before:
        assert rows[rel]["started"] == 1  # not processed again
    for rel in interrupted:
        assert rows[rel]["started"] == 2  # redone from the start
    assert partials(out) == []
    report = (out / "batch-report.csv").read_text()
    assert f"{len(CLIPS)}/{len(CLIPS)} done" in report
