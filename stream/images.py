"""Still images in and out with Pillow: validated, upright, 8-bit BGR for the pipeline.

Reading honours EXIF orientation and accepts grayscale, palette, RGBA, CMYK and 16-bit images.
Writing keeps the input's kind where the output format allows it (grayscale stays grayscale,
alpha is kept, 16-bit and CMYK pixels the pipeline did not touch keep their exact values) and
drops all metadata (EXIF, GPS, XMP, comments); only the colour profile is kept.

A multi-page TIFF is read page by page and written back with every page, in order, each with
its own size and kind. Animated images (WEBP, APNG, GIF) are refused, never cut to one frame:
their frames are a video, and `faceanon video` tracks faces from frame to frame, so a face the
detector misses in one frame is still covered; a still-image pass per frame would leave it raw.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import InputError

from .atomic import atomic_output, check_input_file

MAX_PIXELS = 100_000_000  # larger images are refused as possible decompression bombs
READ_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF"}
SUFFIX_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_ANIMATED = {
    "PNG": "an animated PNG (APNG, {count} frames) is a video: use `faceanon video`, which reads "
    "it and tracks faces from frame to frame (faceanon video {name} -o {stem}.mp4)",
    "WEBP": "animated WEBP images ({count} frames) are not supported, nor by `faceanon video` "
    "(FFmpeg does not decode them); export the frames (e.g. ImageMagick: convert {name} "
    "-coalesce frame%03d.png), join them into a video with ffmpeg, then use faceanon video",
}
_REFUSED = {
    "GIF": "GIF images are not supported (animations, 256-colour palettes); convert to PNG first",
    "SVG": "SVG drawings are not supported: faceanon works on photos; export a PNG first",
}
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_HIGH_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_SAVE_OPTIONS = {
    "JPEG": {"quality": 95, "subsampling": 0},
    "WEBP": {"quality": 95, "method": 4},
    "TIFF": {"compression": "tiff_deflate"},
    "PNG": {},
    "BMP": {},
}

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An upright image: `bgr` for the pipeline, plus what is needed to write it back alike."""

    bgr: np.ndarray
    mode: str  # the input's Pillow mode
    alpha: np.ndarray | None  # 8-bit alpha channel, if the input had one
    native: np.ndarray | None  # exact input pixels when 8-bit BGR loses precision (16-bit, CMYK)
    icc_profile: bytes | None


def output_format(path: Path) -> str:
    """The Pillow format for an output path, from its suffix."""
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted({s for s in SUFFIX_FORMATS}))
        raise InputError(f"cannot write {path.name}: choose an image suffix ({known})")
    return fmt


def read_image(path: Path) -> LoadedImage:
    """The one page of a single-page image; a multi-page file raises InputError (never cut
    silently: use `read_pages`)."""
    pages = read_pages(path)
    if len(pages) > 1:
        raise InputError(f"{path}: has {len(pages)} pages; only single-page images are read here")
    return pages[0]


def read_pages(path: Path) -> tuple[LoadedImage, ...]:
    """Open, validate and decode every page of an image (one page unless it is a multi-page
    TIFF), or raise InputError with the reason."""
    path = Path(path)
    check_input_file(path)
    if path.suffix.lower() in (".svg", ".svgz") or _looks_like_svg(path):
        raise InputError(f"{path}: {_REFUSED['SVG']}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _decode_pages(path, image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InputError(f"{path}: image is too large to process safely ({error})") from error
    except UnidentifiedImageError as error:
        raise InputError(f"{path}: not an image file Pillow can read") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{path}: image is truncated or damaged ({error})") from error


def _decode_pages(path: Path, image: Image.Image) -> tuple[LoadedImage, ...]:
    fmt = image.format or "?"
    if fmt in _REFUSED:
        raise InputError(f"{path}: {_REFUSED[fmt]}")
    if fmt not in READ_FORMATS:
        raise InputError(f"{path}: unsupported image format {fmt} (JPEG, PNG, WEBP, BMP, TIFF)")
    count = getattr(image, "n_frames", 1)
    if count > 1 and fmt in _ANIMATED:
        advice = _ANIMATED[fmt].format(count=count, name=path.name, stem=path.stem)
        raise InputError(f"{path}: {advice}")
    if fmt != "TIFF":
        count = 1  # a camera's MPO JPEG: the photo, as before (its other pictures are views)
    total = 0
    pages = []
    for index in range(count):
        image.seek(index)
        width, height = image.size
        total += width * height
        if total > MAX_PIXELS:
            size = f"{total} in {index + 1} pages" if count > 1 else f"{width}×{height}"
            raise InputError(f"{path}: image is too large to process safely ({size} pixels)")
        pages.append(_decode(image))
    return tuple(pages)


def _decode(image: Image.Image) -> LoadedImage:
    image.load()
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    icc = image.info.get("icc_profile")
    alpha = None
    native = None
    if mode in _HIGH_BIT_MODES:
        native = np.array(image)
        rgb = np.repeat(_to_8bit(native)[..., None], 3, axis=2)
    elif mode == "CMYK":
        native = np.array(image)
        rgb = np.array(image.convert("RGB"))
    else:
        has_alpha = mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        converted = image.convert("RGBA" if has_alpha else "RGB")
        array = np.array(converted)
        rgb = array[..., :3]
        alpha = array[..., 3].copy() if has_alpha else None
    return LoadedImage(
        bgr=np.ascontiguousarray(rgb[..., ::-1]),
        mode=mode,
        alpha=alpha,
        native=native,
        icc_profile=icc,
    )


def write_image(path: Path, loaded: LoadedImage, bgr: np.ndarray) -> None:
    """Write the processed pixels in the input's kind, atomically, without metadata."""
    write_pages(path, (loaded,), (bgr,))


def check_pages_fit(path: Path, count: int, source: Path | None = None) -> None:
    """Refuse an output format that cannot hold `count` pages (only TIFF holds several)."""
    if count > 1 and output_format(path) != "TIFF":
        what = f"{source} has" if source is not None else "the image has"
        raise InputError(
            f"{what} {count} pages and {path.name} could keep only one; write a .tif or .tiff"
        )


def write_pages(path: Path, pages: Sequence[LoadedImage], images: Sequence[np.ndarray]) -> None:
    """Write processed pages (one per loaded page, same order) in each page's own kind,
    atomically, without metadata; several pages need a TIFF output."""
    if len(pages) != len(images) or not pages:
        raise ValueError("one processed image per page, at least one")
    fmt = output_format(path)
    check_pages_fit(path, len(pages))
    encoded = []
    for loaded, bgr in zip(pages, images, strict=True):
        image = _encode(loaded, bgr, fmt)
        if loaded.icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
            image.info["icc_profile"] = loaded.icc_profile  # per page: TIFF pages may differ
        encoded.append(image)
    first, rest = encoded[0], encoded[1:]
    options = dict(_SAVE_OPTIONS[fmt])
    if rest:  # TIFF takes each page's profile from the page itself
        options.update(save_all=True, append_images=rest)
    elif first.info.get("icc_profile"):
        options["icc_profile"] = first.info["icc_profile"]
    with atomic_output(path) as tmp:
        first.save(tmp, format=fmt, **options)


def _encode(loaded: LoadedImage, bgr: np.ndarray, fmt: str) -> Image.Image:
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    changed = np.any(bgr != loaded.bgr, axis=2)
    if loaded.mode in _GRAY_MODES:
        gray = np.array(Image.fromarray(rgb).convert("L"))
        if (
            loaded.native is not None
            and fmt in ("PNG", "TIFF")
            and loaded.native.dtype == np.uint16
        ):
            merged = np.where(changed, gray.astype(np.uint16) * 257, loaded.native)
            return Image.fromarray(merged.astype(np.uint16))
        image = Image.fromarray(gray)
        if loaded.alpha is not None and fmt in ("PNG", "WEBP", "TIFF"):
            image = Image.fromarray(np.dstack([gray, loaded.alpha]), "LA")
        return image
    if loaded.mode == "CMYK" and loaded.native is not None and fmt in ("JPEG", "TIFF"):
        cmyk = np.array(Image.fromarray(rgb).convert("CMYK"))
        return Image.fromarray(np.where(changed[..., None], cmyk, loaded.native), "CMYK")
    if loaded.alpha is not None and fmt in ("PNG", "WEBP", "TIFF"):
        return Image.fromarray(np.dstack([rgb, loaded.alpha]), "RGBA")
    return Image.fromarray(rgb)


def _to_8bit(native: np.ndarray) -> np.ndarray:
    """16-bit (or 32-bit integer / float) grayscale to 8 bits, by the range its type implies."""
    if native.dtype == np.uint16:
        top = 65535.0
    elif native.dtype.kind == "f" and native.max() <= 1.0:
        top = 1.0
    else:
        top = 65535.0 if native.max() > 255 else 255.0
    return np.clip(np.round(native.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)


def _looks_like_svg(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head)
