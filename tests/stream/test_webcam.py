"""Live sources without a camera: a video file played as one, through `CameraSource`,
`run_live` and `faceanon webcam --headless`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import numpy as np
import pytest
from clips import leftovers

from pipeline.errors import InputError
from pipeline.types import FrameResult
from stream.camera import CameraSource
from stream.cli import main
from stream.webcam import run_live


def run_cli(*args: object) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def test_file_read_without_realtime_gives_every_frame_with_its_time(clip):
    source = clip("in.mp4", frames=12, rate=25)
    with CameraSource(str(source), realtime=False) as camera:
        frames = list(camera)
        assert camera.fps == 25 and camera.dropped == 0
    assert [f.index for f in frames] == list(range(12))
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(12)], abs=0.002)
    captured = [f.captured for f in frames]
    assert captured == sorted(captured)
    assert frames[3].image.shape == (120, 160, 3) and frames[3].image.dtype == np.uint8


def test_realtime_file_is_paced_at_its_frame_rate(clip):
    source = clip("in.mp4", frames=10, rate=20)  # half a second
    started = time.monotonic()
    with CameraSource(str(source), realtime=True) as camera:
        frames = list(camera)
    elapsed = time.monotonic() - started
    assert len(frames) + camera.dropped == 10
    assert elapsed >= 0.4
    gaps = np.diff([f.captured for f in frames])
    assert np.median(gaps) > 0.03  # released one by one at 50 ms steps, not read ahead


def test_slow_consumer_gets_the_newest_frames_and_drops_are_counted(clip):
    source = clip("in.mp4", frames=30, rate=50)  # 0.6 s of frames
    seen = []
    with CameraSource(str(source), realtime=True, latest_only=True) as camera:
        for frame in camera:
            seen.append((frame, time.monotonic()))
            time.sleep(0.1)
    assert 3 <= len(seen) <= 12
    assert camera.dropped == 30 - len(seen)
    indices = [f.index for f, _ in seen]
    assert indices == sorted(indices) and max(np.diff(indices)) > 1
    waited = [taken - f.captured for f, taken in seen]
    assert np.median(waited) < 0.1 + 0.05  # about one processing step old, not a backlog


def _text(path: Path) -> None:
    path.write_text("no frames here\n" * 40)


OPEN_ERRORS = {
    "missing.mp4": (None, "no such file"),
    "empty.mp4": (lambda p: p.write_bytes(b""), "empty"),
    "notes.mp4": (_text, "not a readable video"),
    "/dev/video99": (None, "no such camera device"),
    "9": (None, "cannot open camera 9"),
}


@pytest.mark.parametrize("spec", sorted(OPEN_ERRORS))
def test_sources_that_cannot_open_raise_input_error(tmp_path, spec, capfd):
    make, fragment = OPEN_ERRORS[spec]
    path = tmp_path / spec
    if make is not None:
        make(path)
    target = spec if spec.startswith("/") or spec.isdigit() else str(path)
    with pytest.raises(InputError, match=fragment):
        CameraSource(target)
    assert capfd.readouterr().err == ""  # OpenCV's own warnings are kept quiet


def test_headless_webcam_records_a_file_source(clip, tmp_path, capsys):
    source = clip("in.mp4", frames=20, rate=25)
    record, report = tmp_path / "rec" / "live.mp4", tmp_path / "live.json"
    code = run_cli(
        "webcam", "--headless", "--source", source, "--max-frames", 8, "--record", record,
        "--no-realtime", "--mode", "blur", "--report", report,
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"→ {record}" in captured.out and "8 frames" in captured.out
    assert frame_times(record) == pytest.approx([i / 25 for i in range(8)], abs=0.002)
    document = json.loads(report.read_text())
    assert document["command"] == "webcam"
    assert document["settings"]["min_face_fraction"] == 1 / 10  # the webcam default
    entry = document["files"][0]
    assert entry["frames"] == 8 and entry["dropped_frames"] == 0
    assert entry["source"] == str(source) and entry["output"] == str(record)
    assert entry["latency_ms_median"] is not None
    assert leftovers(record.parent) == []


def test_webcam_without_a_display_asks_for_headless(monkeypatch, capsys, clip):
    if not __import__("sys").platform.startswith("linux"):
        pytest.skip("the display check applies to X11/Wayland sessions")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = run_cli("webcam", "--source", clip("in.mp4", frames=3), "--mode", "blur")
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("faceanon: error:") and "--headless" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--source", "missing.mp4"], "no such file"),
        (["--source", "in.mp4", "--record", "in.mp4"], "refusing"),
        (["--source", "in.mp4", "--record", "live.avi"], ".mp4"),
    ],
)
def test_webcam_bad_input_is_one_line_exit_2(clip, tmp_path, monkeypatch, capsys, args, fragment):
    clip("in.mp4", frames=3)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = run_cli("webcam", "--headless", "--mode", "blur", *args)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


class _StopsAtFrame:
    """A stand-in pipeline that passes frames through until Ctrl-C arrives at frame `stop`."""

    def __init__(self, stop: int) -> None:
        self.stop = stop
        self.seen = 0

    def process(self, image: np.ndarray) -> FrameResult:
        if self.seen == self.stop:
            raise KeyboardInterrupt
        self.seen += 1
        return FrameResult(image=image, faces=())


def test_ctrl_c_stops_a_live_session_and_keeps_the_recording(clip, tmp_path):
    source = clip("in.mp4", frames=20, rate=25)
    record = tmp_path / "live.mp4"
    stats = run_live(
        str(source), _StopsAtFrame(5), headless=True, record=record, realtime=False, quiet=True
    )
    assert stats.tally.frames == 5
    assert len(frame_times(record)) == 5
    assert leftovers(tmp_path) == []
