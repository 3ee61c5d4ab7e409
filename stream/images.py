"""Still images in and out with Pillow: validated, upright, 8-bit BGR for the pipeline.

Reading honours EXIF orientation and accepts grayscale, palette, RGBA, CMYK and 16-bit images.
Writing keeps the input's kind where the output format allows it (grayscale stays grayscale,
alpha is kept, 16-bit and CMYK pixels the pipeline did not touch keep their exact values) and
drops all metadata (EXIF, GPS, XMP, comments); only the colour profile is kept.
"""

from __future__ import annotations

import warnings
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
    """Open, validate and decode an image, or raise InputError with the reason."""
    path = Path(path)
    check_input_file(path)
    if path.suffix.lower() in (".svg", ".svgz") or _looks_like_svg(path):
        raise InputError(f"{path}: {_REFUSED['SVG']}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _decode(path, image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InputError(f"{path}: image is too large to process safely ({error})") from error
    except UnidentifiedImageError as error:
        raise InputError(f"{path}: not an image file Pillow can read") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{path}: image is truncated or damaged ({error})") from error


def _decode(path: Path, image: Image.Image) -> LoadedImage:
    fmt = image.format or "?"
    if fmt in _REFUSED:
        raise InputError(f"{path}: {_REFUSED[fmt]}")
    if fmt not in READ_FORMATS:
        raise InputError(f"{path}: unsupported image format {fmt} (JPEG, PNG, WEBP, BMP, TIFF)")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InputError(f"{path}: image is too large to process safely ({width}×{height} pixels)")
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
    fmt = output_format(path)
    image = _encode(loaded, bgr, fmt)
    options = dict(_SAVE_OPTIONS[fmt])
    if loaded.icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        options["icc_profile"] = loaded.icc_profile
    with atomic_output(path) as tmp:
        image.save(tmp, format=fmt, **options)


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
