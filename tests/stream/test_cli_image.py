"""`faceanon image` on good inputs: every face handled, formats kept, metadata dropped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stream.cli import main


def run_cli(*args) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_portrait_end_to_end(tmp_path, portrait):
    out = tmp_path / "portrait.png"
    report = tmp_path / "report.json"
    assert run_cli("image", portrait, "-o", out, "--report", report, "--quiet") == 0
    data = json.loads(report.read_text())
    totals = data["totals"]
    assert totals["faces_found"] >= 1
    assert totals["swapped"] + totals["blurred"] == totals["faces_found"]
    face = data["files"][0]["faces"][0]
    before, after = pixels(portrait), pixels(out)
    box = face["box"]
    inside = np.abs(after - before)[box["top"] : box["bottom"], box["left"] : box["right"]]
    assert inside.mean() > 3, "the face was not changed"
    assert np.array_equal(after[:10], before[:10]), "the background far from the face changed"
    if face["action"] == "swapped":
        assert 50 < face["pixel_similarity"] < 100
        assert face["identity_distance"] >= 0
        assert isinstance(face["reid_risk"], bool)
    assert "detect" in data["totals"]["timings_ms"]


def test_identity_pull_option_reaches_the_swap(tmp_path, portrait):
    outputs = {}
    for pull in ("0", "0.8"):
        out, report = tmp_path / f"pull{pull}.png", tmp_path / f"pull{pull}.json"
        args = ("image", portrait, "-o", out, "--identity-pull", pull, "--report", report)
        assert run_cli(*args, "--no-identity", "--quiet") == 0
        assert json.loads(report.read_text())["settings"]["identity_pull"] == float(pull)
        outputs[pull] = pixels(out)
    assert np.abs(outputs["0"] - outputs["0.8"]).mean() > 0.05


def test_blur_mode_covers_every_face(tmp_path, group):
    out = tmp_path / "group.png"
    report = tmp_path / "r.json"
    assert run_cli("image", group, "-o", out, "--mode", "blur", "--report", report, "--quiet") == 0
    totals = json.loads(report.read_text())["totals"]
    assert totals["faces_found"] >= 2
    assert totals["blurred"] == totals["faces_found"] and totals["swapped"] == 0


def test_folder_in_folder_out(tmp_path, portrait, group):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(portrait, src / "a.png")
    shutil.copy(group, src / "b.png")
    (src / "notes.txt").write_text("ignored")
    assert run_cli("image", src, "-o", tmp_path / "out", "--quiet", "--no-identity") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def _faceless(path: Path) -> Path:
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(path)
    return path


def test_an_image_with_no_face_found_is_covered_whole(tmp_path):
    """Fail closed: a photo in which the detector found no face may show a face it missed, so
    by default it is covered edge to edge (every pixel replaced by the coarse cover)."""
    source = _faceless(tmp_path / "wall.png")
    out, report = tmp_path / "wall-out.png", tmp_path / "r.json"
    assert run_cli("image", source, "-o", out, "--report", report, "--quiet") == 0
    before, after = pixels(source), pixels(out)
    assert after.shape == before.shape
    assert np.abs(after - before).mean() > 40
    # the noise image's detail is gone: what is left is smooth blocks plus the cover's noise
    assert after.std() < before.std() / 3
    data = json.loads(report.read_text())
    assert data["totals"]["faces_found"] == 0
    assert data["settings"]["no_face"] == "cover"
    (record,) = data["files"]
    assert record["pages_without_face"] == 1 and record["without_face"] == "covered"


def test_no_face_keep_copies_the_image_through_unchanged(tmp_path):
    source = _faceless(tmp_path / "wall.png")
    out, report = tmp_path / "wall-out.png", tmp_path / "r.json"
    args = ("--no-face", "keep", "--report", report, "--quiet")
    assert run_cli("image", source, "-o", out, *args) == 0
    assert np.array_equal(pixels(out), pixels(source))
    (record,) = json.loads(report.read_text())["files"]
    assert record["pages_without_face"] == 1 and record["without_face"] == "kept"


def _with_exif(image: Image.Image, orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    if orientation:
        exif[0x0112] = orientation
    gps = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    exif[0x8825] = gps
    return exif


def test_exif_orientation_is_honoured_and_metadata_dropped(tmp_path, portrait):
    upright = Image.open(portrait).convert("RGB")
    # Stored rotated, with an EXIF tag saying "rotate 90° clockwise to display" (6).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    source = tmp_path / "phone.jpg"
    stored.save(source, "JPEG", quality=95, exif=_with_exif(stored, orientation=6).tobytes())
    out = tmp_path / "phone-out.jpg"
    report = tmp_path / "r.json"
    assert run_cli("image", source, "-o", out, "--report", report, "--quiet", "--no-identity") == 0
    result = Image.open(out)
    assert result.size == upright.size  # written upright
    assert json.loads(report.read_text())["totals"]["faces_found"] >= 1  # found once upright
    exif = result.getexif()
    assert 0x8825 not in exif and 0x010F not in exif and 0x0112 not in exif
    assert b"Exif" not in out.read_bytes()[:4096]


def test_grayscale_stays_grayscale(tmp_path, portrait):
    source = tmp_path / "gray.png"
    Image.open(portrait).convert("L").save(source)
    out = tmp_path / "gray-out.png"
    assert run_cli("image", source, "-o", out, "--quiet", "--no-identity") == 0
    result = Image.open(out)
    assert result.mode == "L"
    assert not np.array_equal(np.asarray(result), np.asarray(Image.open(source)))


def test_rgba_keeps_its_alpha(tmp_path, portrait):
    image = Image.open(portrait).convert("RGBA")
    alpha = np.full(image.size[::-1], 255, np.uint8)
    alpha[:20] = 0
    image.putalpha(Image.fromarray(alpha))
    source = tmp_path / "rgba.png"
    image.save(source)
    out = tmp_path / "rgba-out.png"
    assert run_cli("image", source, "-o", out, "--quiet", "--no-identity") == 0
    result = Image.open(out)
    assert result.mode == "RGBA"
    assert np.array_equal(np.asarray(result)[..., 3], alpha)


def test_cmyk_jpeg(tmp_path, portrait):
    source = tmp_path / "print.jpg"
    Image.open(portrait).convert("CMYK").save(source, "JPEG", quality=95)
    out = tmp_path / "print-out.jpg"
    report = tmp_path / "r.json"
    assert run_cli("image", source, "-o", out, "--report", report, "--quiet", "--no-identity") == 0
    assert Image.open(out).mode == "CMYK"
    assert json.loads(report.read_text())["totals"]["faces_found"] >= 1


def test_sixteen_bit_png_keeps_untouched_pixels_exact(tmp_path, portrait):
    gray8 = np.asarray(Image.open(portrait).convert("L")).astype(np.uint16)
    gray16 = gray8 * 257 + 100  # values 8-bit cannot hold
    source = tmp_path / "deep.png"
    Image.fromarray(gray16.astype(np.uint16)).save(source)
    out = tmp_path / "deep-out.png"
    report = tmp_path / "r.json"
    assert run_cli("image", source, "-o", out, "--report", report, "--quiet", "--no-identity") == 0
    result = np.asarray(Image.open(out))
    assert result.dtype == np.uint16 or Image.open(out).mode.startswith("I")
    result = result.astype(np.int64)
    assert np.array_equal(result[:10], gray16[:10])  # far from the face: exact
    assert json.loads(report.read_text())["totals"]["faces_found"] >= 1


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".bmp", ".tiff"])
def test_formats_round_trip(tmp_path, portrait, suffix):
    source = tmp_path / f"in{suffix}"
    Image.open(portrait).convert("RGB").save(source)
    out = tmp_path / f"out{suffix}"
    assert run_cli("image", source, "-o", out, "--quiet", "--no-identity") == 0
    assert Image.open(out).size == Image.open(source).size


@pytest.mark.parametrize("name", ["two_people.jpg", "kit_with_rose.jpg"])
def test_real_photos_every_face_is_swapped_or_covered(tmp_path, shared_media, name):
    """Real photos with two frontal faces each (shared media, never copied into the project)."""
    source = shared_media / name
    if not source.is_file():
        pytest.skip(f"{source} is not in the shared media")
    out = tmp_path / name
    report = tmp_path / "r.json"
    assert run_cli("image", source, "-o", out, "--report", report, "--quiet") == 0
    totals = json.loads(report.read_text())["totals"]
    assert totals["faces_found"] == 2
    assert totals["swapped"] + totals["blurred"] == 2
    faces = json.loads(report.read_text())["files"][0]["faces"]
    before, after = pixels(source), pixels(out)
    for face in faces:
        box = face["box"]
        region = (slice(box["top"], box["bottom"]), slice(box["left"], box["right"]))
        assert np.abs(after[region] - before[region]).mean() > 2, f"{face} left as it was"


def test_identity_modes_reach_the_swap_and_the_report(tmp_path, portrait):
    outputs = {}
    for name, options, expected in (
        ("k3", ("--k", "3"), {"identity_mode": "k-same", "k": 3, "label": "k-Same k=3"}),
        ("dp", ("--epsilon", "4000"), {"identity_mode": "dp", "epsilon": 4000.0}),
        ("pull", ("--identity-mode", "pull"), {"identity_mode": "pull"}),
    ):
        out, report = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
        args = ("image", portrait, "-o", out, "--report", report, *options)
        assert run_cli(*args, "--no-identity", "--quiet") == 0
        data = json.loads(report.read_text())
        identity = data["settings"]["identity"]
        assert identity.items() >= expected.items()
        swapped = [f for f in data["files"][0]["faces"] if f["action"] == "swapped"]
        assert swapped and all(f["identity_mode"] == identity["label"] for f in swapped)
        outputs[name] = pixels(out)
    assert np.abs(outputs["k3"] - outputs["pull"]).mean() > 0.05
    assert np.abs(outputs["dp"] - outputs["pull"]).mean() > 0.05


def swapped_with(tmp_path, portrait, name: str, *options: str) -> tuple[np.ndarray, dict]:
    """The portrait swapped with `options`: the output's pixels and the report's settings."""
    out, report = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
    args = ("image", portrait, "-o", out, "--report", report, *options)
    assert run_cli(*args, "--no-identity", "--quiet") == 0
    return pixels(out), json.loads(report.read_text())["settings"]


def test_paint_limit_reaches_the_swap_and_the_report(tmp_path, portrait):
    free, settings = swapped_with(tmp_path, portrait, "free")
    capped, capped_settings = swapped_with(tmp_path, portrait, "capped", "--paint-limit", "0")
    assert settings["paint_limit"] is None and capped_settings["paint_limit"] == 0.0
    assert np.abs(free - capped).mean() > 0.01


def test_images_with_no_face_found_are_named(tmp_path, portrait, capsys):
    """The user is told which images had no face found, and what became of them (covered, or
    with --no-face keep written out unchanged, the face raw if the detector missed one), so
    as to look at them; --quiet prints nothing."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(portrait, src / "person.png")
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(src / "wall.png")
    assert run_cli("image", src, "-o", tmp_path / "out", "--no-identity") == 0
    err = capsys.readouterr().err
    assert "no face found in 1 image(s), covered whole: " in err
    assert "wall.png" in err and "person.png" not in err
    assert run_cli("image", src, "-o", tmp_path / "kept", "--no-identity", "--no-face", "keep") == 0
    assert "no face found in 1 image(s), written out unchanged: " in capsys.readouterr().err
    covered, kept = pixels(tmp_path / "out" / "wall.png"), pixels(tmp_path / "kept" / "wall.png")
    assert np.array_equal(kept, pixels(src / "wall.png")) and not np.array_equal(covered, kept)
    assert run_cli("image", src, "-o", tmp_path / "quiet", "--no-identity", "--quiet") == 0
    assert "no face found" not in capsys.readouterr().err


def test_the_summary_says_why_faces_were_covered(tmp_path, group, capsys):
    assert run_cli("image", group, "-o", tmp_path / "g.png", "--mode", "blur") == 0
    lines = capsys.readouterr().out.splitlines()
    covered = [line for line in lines if line.startswith("faceanon: covered: ")]
    assert covered and "blur mode" in covered[0]


def test_detail_choice_reaches_the_swap_and_the_report(tmp_path, portrait):
    model, settings = swapped_with(tmp_path, portrait, "model")
    own, own_settings = swapped_with(tmp_path, portrait, "own", "--detail", "own")
    assert settings["detail"] == "model" and own_settings["detail"] == "own"
    assert np.abs(own - model).mean() > 0.01
