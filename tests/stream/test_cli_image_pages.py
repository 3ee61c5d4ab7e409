"""Multi-page and animated images: every TIFF page anonymized and kept; animations refused."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageCms

from stream.cli import main
from stream.images import read_image, read_pages


def run_cli(*args) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def tiff_pages(path: Path) -> list[Image.Image]:
    with Image.open(path) as image:
        pages = []
        for index in range(image.n_frames):
            image.seek(index)
            pages.append(image.copy())
        return pages


@pytest.fixture
def three_pages(tmp_path, portrait) -> tuple[Path, list[Image.Image]]:
    """A scan-like TIFF: a colour portrait with a colour profile, a smaller grayscale copy,
    and a faceless RGBA page of its own size."""
    colour = Image.open(portrait).convert("RGB")
    colour.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gray = colour.resize((384, 480)).convert("L")
    blank = np.zeros((90, 200, 4), np.uint8)
    blank[..., 0] = np.arange(200, dtype=np.uint8)[None, :]
    blank[..., 3] = 180
    pages = [colour, gray, Image.fromarray(blank, "RGBA")]
    source = tmp_path / "scan.tif"
    pages[0].save(source, save_all=True, append_images=pages[1:], compression="tiff_deflate")
    return source, pages


def test_every_tiff_page_is_anonymized_and_kept(tmp_path, three_pages):
    source, pages = three_pages
    before = source.read_bytes()
    out, report = tmp_path / "out" / "scan.tif", tmp_path / "report.json"
    code = run_cli("image", source, "-o", out, "--report", report, "--no-identity")
    assert code == 0
    assert source.read_bytes() == before
    written = tiff_pages(out)
    assert [(p.size, p.mode) for p in written] == [(p.size, p.mode) for p in pages]
    assert written[0].info.get("icc_profile") == pages[0].info["icc_profile"]
    for index in (0, 1):  # both face pages changed around the face, kept far from it
        old, new = (np.asarray(p).astype(int) for p in (pages[index], written[index]))
        assert np.abs(new - old).max() > 40, f"page {index + 1} was not anonymized"
        assert np.array_equal(new[:8], old[:8])
    # the page with no face is covered whole (a face the detector missed could be on it)
    old, new = (np.asarray(p).astype(int) for p in (pages[2], written[2]))
    assert np.abs(new - old)[..., :3].mean() > 3  # a smooth ramp: the cover's noise shows
    assert np.array_equal(new[..., 3], old[..., 3]), "its alpha channel is kept"
    document = json.loads(report.read_text())
    record = document["files"][0]
    assert record["pages"] == 3
    assert record["pages_without_face"] == 1 and record["without_face"] == "covered"
    assert sorted({face["page"] for face in record["faces"]}) == [1, 2]
    assert document["totals"]["frames"] == 3
    assert all(face["action"] in ("swapped", "blurred") for face in record["faces"])


def test_a_page_with_no_face_is_kept_as_it_was_when_asked(tmp_path, three_pages):
    source, pages = three_pages
    out = tmp_path / "out" / "scan.tif"
    assert run_cli("image", source, "-o", out, "--no-identity", "--no-face", "keep") == 0
    assert np.array_equal(np.asarray(tiff_pages(out)[2]), np.asarray(pages[2]))


def test_multi_page_tiff_to_a_single_page_format_is_refused(tmp_path, capsys):
    source = tmp_path / "two.tif"
    pages = [Image.new("RGB", (32, 24), (9, 9, 9)), Image.new("L", (16, 16), 40)]
    pages[0].save(source, save_all=True, append_images=pages[1:])
    out = tmp_path / "out"
    out.mkdir()
    code = run_cli("image", source, "-o", out / "two.png")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("faceanon: error:") and "2 pages" in err and ".tif" in err
    assert list(out.iterdir()) == []


def test_single_page_reader_refuses_several_pages_rather_than_cut(tmp_path):
    source = tmp_path / "two.tif"
    Image.new("RGB", (8, 8)).save(source, save_all=True, append_images=[Image.new("RGB", (8, 8))])
    assert len(read_pages(source)) == 2
    with pytest.raises(Exception, match="2 pages"):
        read_image(source)


def _animated(path: Path, fmt: str, frames: int = 2) -> None:
    images = [Image.new("RGB", (48, 32), (40 * i, 90, 200 - 40 * i)) for i in range(frames)]
    images[0].save(path, fmt, save_all=True, append_images=images[1:], duration=[80] * frames)


@pytest.mark.parametrize(("name", "fmt"), [("anim.webp", "WEBP"), ("anim.png", "PNG")])
def test_animated_images_are_refused_in_one_line(tmp_path, capsys, name, fmt):
    source = tmp_path / name
    _animated(source, fmt, frames=3)
    out = tmp_path / "out"
    out.mkdir()
    code = run_cli("image", source, "-o", out / name)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("faceanon: error:")
    assert "animated" in err and "3 frames" in err and "faceanon video" in err
    assert list(out.iterdir()) == []


def test_the_advice_for_apng_works(tmp_path):
    source = tmp_path / "anim.png"
    _animated(source, "PNG", frames=3)
    out = tmp_path / "anim.mp4"
    assert run_cli("video", source, "-o", out, "--mode", "blur", "--quiet") == 0
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3


@pytest.mark.parametrize(("name", "fmt"), [("still.webp", "WEBP"), ("still.png", "PNG")])
def test_one_frame_webp_and_png_are_stills(tmp_path, name, fmt):
    source = tmp_path / name
    _animated(source, fmt, frames=1)
    out = tmp_path / f"out-{name}"
    assert run_cli("image", source, "-o", out, "--quiet") == 0
    assert Image.open(out).size == (48, 32)
