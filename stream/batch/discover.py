"""Find the media in a folder tree by content: what Pillow or PyAV can open, not the suffix."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError

from ..images import READ_FORMATS

# FFmpeg demuxers that "open" text and still images as video; not recordings.
_NOT_VIDEO = {"tty", "bin", "idf", "adf", "xbin", "image2", "gif", "apng", "webp_pipe"}


@dataclass(frozen=True)
class MediaFile:
    """An input the batch will process. `rel`: its path below the input folder, with `/`."""

    path: Path
    rel: str
    kind: str  # "video" or "image"
    size: int
    mtime_ns: int
    image_format: str | None = None  # Pillow's name for an image's format


@dataclass(frozen=True)
class Discovery:
    """What the walk found: media, files that are not media, and files --glob left out."""

    files: tuple[MediaFile, ...]
    not_media: tuple[str, ...]
    filtered: int


def discover(
    root: Path,
    exclude: Path | None = None,
    patterns: Sequence[str] = (),
    known: dict[str, tuple[int, int, str, str | None]] | None = None,
) -> Discovery:
    """Walk `root` recursively in sorted order, skipping the folder `exclude` (the output
    folder when it lies inside) and symlinked folders. `patterns` (fnmatch, `*` crosses
    folders) keep only matching relative paths. `known` maps a relative path to (size,
    mtime_ns, kind, image format) from an earlier run, so unchanged files are not sniffed."""
    known = known or {}
    skip = exclude.resolve() if exclude is not None else None
    files: list[MediaFile] = []
    not_media: list[str] = []
    filtered = 0
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            d for d in subfolders if not _is_link(here / d) and (here / d).resolve() != skip
        )
        for name in sorted(names):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if patterns and not any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                filtered += 1
                continue
            try:
                stat = path.stat()
            except OSError:
                not_media.append(rel)
                continue
            if not path.is_file():
                continue
            seen = known.get(rel)
            if seen is not None and seen[:2] == (stat.st_size, stat.st_mtime_ns):
                kind, image_format = seen[2], seen[3]
            else:
                kind, image_format = sniff(path)
            if kind is None:
                not_media.append(rel)
                continue
            files.append(MediaFile(path, rel, kind, stat.st_size, stat.st_mtime_ns, image_format))
    return Discovery(tuple(files), tuple(not_media), filtered)


def sniff(path: Path) -> tuple[str | None, str | None]:
    """("image", format) for a still Pillow reads and faceanon writes back, ("video", None) for
    a file with a video stream FFmpeg demuxes, (None, None) for anything else."""
    if path.stat().st_size == 0:
        return None, None
    try:
        with Image.open(path) as image:
            if image.format in READ_FORMATS:
                return "image", image.format
    except Image.DecompressionBombError:
        return "image", None  # an image all the same; processing will refuse it with the reason
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        pass
    return ("video", None) if _has_video(path) else (None, None)


def _has_video(path: Path) -> bool:
    try:
        with av.open(str(path)) as container:
            name = container.format.name
            if name in _NOT_VIDEO or name.endswith("_pipe"):
                return False
            return any(
                not s.disposition & av.stream.Disposition.attached_pic
                for s in container.streams.video
            )
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return False


def _is_link(path: Path) -> bool:
    return path.is_symlink()
