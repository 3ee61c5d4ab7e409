"""Every kind of bad input to `faceanon image` gives one clear line, exit 2, and no output."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stream.cli import main


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(capsys, code: int, fragment: str) -> None:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("faceanon: error:"), err
    assert fragment.lower() in lines[0].lower(), err
    assert "Traceback" not in err


def _png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims enormous dimensions."""
    data = bytearray(_png_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def _truncated_jpeg(portrait: Path) -> bytes:
    buffer = io.BytesIO()
    Image.open(portrait).convert("RGB").save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    return data[: len(data) // 2]


BAD_INPUTS = {
    "missing.jpg": (None, "no such file"),
    "empty.jpg": (b"", "empty"),
    "notes.jpg": (b"these are not pixels\n" * 20, "not an image"),
    "anim.gif": ("gif", "GIF"),
    "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
    "disguised.png": (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    "bomb.png": ("bomb", "too large"),
    "truncated.jpg": ("truncated", "truncated"),
    "icon.ico": ("ico", "unsupported"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, portrait, name):
    content, fragment = BAD_INPUTS[name]
    source = tmp_path / name
    if content == "gif":
        Image.new("P", (16, 16)).save(source, "GIF")
    elif content == "bomb":
        source.write_bytes(_bomb_png(30000, 30000))
    elif content == "truncated":
        source.write_bytes(_truncated_jpeg(portrait))
    elif content == "ico":
        Image.new("RGB", (16, 16)).save(source, "ICO")
    elif content is not None:
        source.write_bytes(content)
    before = digest(source) if source.exists() else None
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = run_cli("image", source, "-o", out_dir / "result.png")
    assert_one_line_error(capsys, code, fragment)
    assert list(out_dir.iterdir()) == []
    if before is not None:
        assert digest(source) == before


def test_output_equal_to_input_is_refused(tmp_path, capsys, portrait):
    source = tmp_path / "me.png"
    shutil.copy(portrait, source)
    before = digest(source)
    code = run_cli("image", source, "-o", source)
    assert_one_line_error(capsys, code, "refusing to write over the input")
    assert digest(source) == before
    # The same file reached through another spelling of the path is refused too.
    code = run_cli("image", source, "-o", tmp_path / "." / "me.png")
    assert_one_line_error(capsys, code, "refusing")
    assert digest(source) == before


def test_unwritable_output_folder(tmp_path, capsys, portrait):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = run_cli("image", portrait, "-o", blocker / "out.png")
    assert_one_line_error(capsys, code, "a-file")


@pytest.mark.skipif(
    sys.platform == "win32" or __import__("os").geteuid() == 0,
    reason="root ignores folder permissions",
)
def test_read_only_folder(tmp_path, capsys, portrait):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code = run_cli("image", portrait, "-o", folder / "out.png")
        assert_one_line_error(capsys, code, "cannot write")
    finally:
        folder.chmod(0o700)


def test_proc_is_not_writable(capsys, portrait):
    code = run_cli("image", portrait, "-o", "/proc/faceanon-out/x.png")
    assert code == 2
    assert capsys.readouterr().err.startswith("faceanon: error:")


def test_unknown_output_suffix(tmp_path, capsys, portrait):
    code = run_cli("image", portrait, "-o", tmp_path / "out.gif")
    assert_one_line_error(capsys, code, "suffix")


def test_two_inputs_with_one_name_collide(tmp_path, capsys, portrait):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(portrait, tmp_path / "a" / "x.png")
    shutil.copy(portrait, tmp_path / "b" / "x.png")
    code = run_cli(
        "image", tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", "-o", tmp_path / "out"
    )
    assert_one_line_error(capsys, code, "both be written")


def test_one_bad_file_among_good_ones_writes_nothing(tmp_path, capsys, portrait):
    good = tmp_path / "good.png"
    shutil.copy(portrait, good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    out = tmp_path / "out"
    code = run_cli("image", good, bad, "-o", out)
    assert_one_line_error(capsys, code, "bad.jpg")
    assert not any(out.iterdir())


def test_usage_errors_are_one_line(capsys):
    code = run_cli("image")
    assert_one_line_error(capsys, code, "missing")
    code = run_cli("image", "x.png", "-o", "y.png", "--mode", "sparkle")
    assert_one_line_error(capsys, code, "sparkle")
    code = run_cli("image", "x.png", "-o", "y.png", "--strength", "99")
    assert_one_line_error(capsys, code, "strength")
    code = run_cli("image", "x.png", "-o", "y.png", "--identity-pull", "1.5")
    assert_one_line_error(capsys, code, "identity-pull")


def test_identity_pull_is_refused_for_backends_without_it(capsys, tmp_path, portrait):
    code = run_cli(
        "image", portrait, "-o", tmp_path / "o.png", "--swapper", "pix2pixhd",
        "--identity-pull", "0.5",
    )  # fmt: skip
    assert_one_line_error(capsys, code, "latent swapper only")
    assert not (tmp_path / "o.png").exists()


def test_identity_mode_options_are_checked(capsys, tmp_path, portrait):
    out = tmp_path / "o.png"
    code = run_cli("image", portrait, "-o", out, "--k", "3", "--epsilon", "10")
    assert_one_line_error(capsys, code, "one of")
    code = run_cli("image", portrait, "-o", out, "--identity-mode", "dp", "--k", "3")
    assert_one_line_error(capsys, code, "--k applies")
    code = run_cli("image", portrait, "-o", out, "--epsilon", "0")
    assert_one_line_error(capsys, code, "epsilon")
    code = run_cli("image", portrait, "-o", out, "--swapper", "pix2pixhd", "--k", "3")
    assert_one_line_error(capsys, code, "latent swapper only")
    assert not out.exists()


def test_console_script_has_no_traceback(tmp_path):
    """The installed entry point itself (a fresh process) maps errors the same way."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stream.cli import main; main()",
            "image",
            str(tmp_path / "missing.png"),
            "-o",
            str(tmp_path / "o.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("faceanon: error:")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_no_partial_files_are_left(tmp_path, portrait):
    out = tmp_path / "out"
    assert run_cli("image", portrait, "-o", out / "p.png", "--quiet") == 0
    assert sorted(p.name for p in out.iterdir()) == ["p.png"]
    assert np.asarray(Image.open(out / "p.png")).shape[2] == 3


def test_paint_limit_is_checked(capsys, tmp_path, portrait):
    out = tmp_path / "o.png"
    code = run_cli("image", portrait, "-o", out, "--paint-limit", "-1")
    assert_one_line_error(capsys, code, "paint-limit")
    code = run_cli("image", portrait, "-o", out, "--swapper", "pix2pixhd", "--paint-limit", "3")
    assert_one_line_error(capsys, code, "latent swapper only")
    assert not out.exists()
