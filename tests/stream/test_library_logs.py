"""The libraries' own log lines (FFmpeg, OpenCV, Qt) never reach the terminal unless --verbose.

Each command runs in a fresh process, as a user runs it: OpenCV's FFmpeg reads its log level
once per process, and native code writes straight to file descriptor 2, which only a separate
process's stderr shows whole.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream.liblogs import find_font_dir

ROOT = Path(__file__).resolve().parents[2]


def faceanon(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from stream.cli import main; main()", *map(str, args)]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def closed_port() -> int:
    """A local TCP port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def refused_url() -> str:
    return f"rtsp://127.0.0.1:{closed_port()}/live"


def test_refused_network_source_is_one_line(refused_url):
    done = faceanon("webcam", "--source", refused_url, "--headless", "--mode", "blur")
    assert done.returncode == 2, done.stderr
    assert lines(done.stderr) == [
        f"faceanon: error: cannot open the stream {refused_url}: unreachable, refused or not a "
        "video"
    ]
    assert done.stdout == ""


def test_verbose_shows_what_ffmpeg_said(refused_url):
    done = faceanon("webcam", "--source", refused_url, "--headless", "--mode", "blur", "--verbose")
    assert done.returncode == 2
    said = lines(done.stderr)
    assert said[-1].startswith("faceanon: error: cannot open the stream")
    assert any("Connection" in line and "refused" in line.lower() for line in said[:-1]), said
    assert done.stdout == ""  # on stderr, where logs belong


def test_missing_camera_index_is_one_line():
    done = faceanon("webcam", "--source", "97", "--headless", "--mode", "blur")
    assert done.returncode == 2
    assert lines(done.stderr) == [
        "faceanon: error: cannot open camera 97: is it connected and free? (or --source FILE)"
    ]


def test_quiet_and_verbose_together_are_refused(tmp_path, portrait):
    done = faceanon("image", portrait, "-o", tmp_path / "x.png", "--quiet", "--verbose")
    assert done.returncode == 2
    assert len(lines(done.stderr)) == 1 and "--quiet and --verbose" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_damaged_video_gives_faceanon_lines_only(clip, tmp_path):
    source = clip("in.mkv", size=(320, 240), frames=40)
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = bytes(range(256)) * 11 + bytes(184)  # garbled packets
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(bytes(data[: len(data) * 4 // 5]))  # and cut short
    done = faceanon("video", damaged, "-o", tmp_path / "out.mp4", "--mode", "blur")
    assert done.returncode == 0, done.stderr
    said = lines(re.sub(r"[^\s:]+: +\d+%\|[^\]]*\]", "", done.stderr))  # less progress bars
    assert said and all(line.startswith("faceanon:") for line in said), said
    assert "ended early" in said[0]
    verbose = faceanon("video", damaged, "-o", tmp_path / "v.mp4", "--mode", "blur", "--verbose")
    assert any(line.startswith("[h264 @") for line in lines(verbose.stderr)), verbose.stderr


def test_headless_webcam_run_prints_only_its_own_lines(clip, tmp_path):
    source = clip("in.mp4", size=(320, 240), frames=12)
    done = faceanon(
        "webcam", "--headless", "--source", source, "--max-frames", 12, "--no-realtime",
        "--mode", "blur", "--record", tmp_path / "live.mp4",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert all(line.startswith("faceanon:") for line in lines(done.stderr)), done.stderr
    assert lines(done.stdout) == [lines(done.stdout)[0]] and "12 frames" in done.stdout


def _xvfb_display() -> tuple[subprocess.Popen, str]:
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("needs Xvfb for a virtual display (apt-get install xvfb)")
    for number in range(170, 190):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            break
    display = f":{number}"
    server = subprocess.Popen(
        [binary, display, "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            return server, display
        time.sleep(0.05)
    server.kill()
    pytest.skip("Xvfb did not start")


def test_preview_window_prints_nothing_on_stderr(tmp_path, portrait):
    from clips import write_clip

    server, display = _xvfb_display()
    try:
        source = write_clip(tmp_path / "in.mp4", size=(320, 240), frames=3)
        env = {**os.environ, "DISPLAY": display}
        env.pop("QT_QPA_FONTDIR", None)
        env.pop("QT_LOGGING_RULES", None)
        done = faceanon(
            "webcam", "--source", source, "--max-frames", 3, "--no-realtime", "--mode", "blur",
            env=env,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert lines(done.stdout) == [lines(done.stdout)[0]] and "3 frames" in done.stdout


def test_font_dir_prefers_dejavu_and_looks_only_a_few_levels_down(tmp_path):
    (tmp_path / "a" / "other").mkdir(parents=True)
    (tmp_path / "a" / "other" / "Free.otf").write_bytes(b"")
    (tmp_path / "b" / "dejavu").mkdir(parents=True)
    (tmp_path / "b" / "dejavu" / "DejaVuSans.ttf").write_bytes(b"")
    deep = tmp_path / "c" / "1" / "2" / "3" / "4"
    deep.mkdir(parents=True)
    (deep / "Deep.ttf").write_bytes(b"")
    assert find_font_dir([tmp_path]) == tmp_path / "b" / "dejavu"
    assert find_font_dir([tmp_path / "a"]) == tmp_path / "a" / "other"
    assert find_font_dir([tmp_path / "c"]) is None
    assert find_font_dir([tmp_path / "missing"]) is None


def test_without_system_fonts_qt_is_kept_quiet_unless_verbose(monkeypatch, tmp_path):
    from stream import liblogs

    monkeypatch.setattr(liblogs, "find_font_dir", lambda: None)
    monkeypatch.setenv("QT_QPA_FONTDIR", str(tmp_path / "cv2-fonts-not-shipped"))
    monkeypatch.delenv("QT_LOGGING_RULES", raising=False)
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    try:
        liblogs.configure_library_logs(verbose=False)
        assert os.environ["QT_LOGGING_RULES"] == liblogs.QT_QUIET_RULES
        assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "-8"
        liblogs.configure_library_logs(verbose=True)
        assert "QT_LOGGING_RULES" not in os.environ
        assert "OPENCV_FFMPEG_LOGLEVEL" not in os.environ
        assert liblogs.library_logs_shown()
    finally:
        liblogs.configure_library_logs(verbose=False)  # the quiet default other tests expect
    monkeypatch.setenv("QT_LOGGING_RULES", "qt.qpa.*=true")  # a user's own rules are kept
    liblogs.configure_library_logs(verbose=False)
    assert os.environ["QT_LOGGING_RULES"] == "qt.qpa.*=true"


def test_opencv_is_loaded_before_pyav():
    """PyAV's FFmpeg loaded first makes OpenCV's preview window hang on its first frame."""
    code = (
        "import sys, stream.cli; names = list(sys.modules); "
        "print(names.index('cv2') < names.index('av'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr
