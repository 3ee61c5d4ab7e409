"""Where each input goes in the output folder: the same relative path, with a container or
image suffix faceanon writes, and a deterministic, recorded way out of name collisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..images import SUFFIX_FORMATS
from ..video_io import OUTPUT_FORMATS
from .discover import MediaFile

DEFAULT_VIDEO_SUFFIX = ".mp4"
_IMAGE_SUFFIX = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp"}
_IMAGE_SUFFIX["TIFF"] = ".tif"


@dataclass(frozen=True)
class Placement:
    """An input's output path (relative, with `/`) and, when it differs from the input's own
    name, why (`note`)."""

    rel: str
    output: str
    note: str | None = None


def wanted_name(file: MediaFile) -> tuple[str, str | None]:
    """The output path an input asks for, and a note when its suffix had to change."""
    path = PurePosixPath(file.rel)
    suffix = path.suffix.lower()
    if file.kind == "video":
        if suffix in OUTPUT_FORMATS:
            return file.rel, None
        new = DEFAULT_VIDEO_SUFFIX
        what = f"container {suffix or '(none)'} written as {new}"
    else:
        if suffix in SUFFIX_FORMATS:
            return file.rel, None
        new = _IMAGE_SUFFIX.get(file.image_format or "", ".png")
        what = f"image {suffix or '(no suffix)'} written as {new}"
    return str(path.with_name(path.stem + new) if suffix else path.with_name(path.name + new)), what


def place(
    files: Iterable[MediaFile], previous: Mapping[str, tuple[str, str | None]] | None = None
) -> list[Placement]:
    """Give every input its own output path (in the order given).

    Outputs recorded by an earlier run (`previous`: input → output, note) stay where they
    are, even those of inputs since removed; then inputs that keep their own
    name, in sorted order; then inputs whose suffix changes. A name already taken (compared
    without case, for case-blind disks) becomes `stem.oldsuffix.new` (`a.avi` → `a.avi.mp4`
    when `a.mp4` exists too), then `stem.oldsuffix.2.new`, … — the same choice on every run.
    """
    previous = previous or {}
    given = list(files)
    files = sorted(given, key=lambda f: f.rel)
    present = {f.rel for f in files}
    # Outputs of inputs that have since gone stay theirs: never written over by another.
    taken = {out.casefold() for rel, (out, _) in previous.items() if rel not in present}
    placed: dict[str, Placement] = {}
    for file in files:
        old, note = previous.get(file.rel, (None, None))
        if old is not None and old.casefold() not in taken:
            taken.add(old.casefold())
            placed[file.rel] = Placement(file.rel, old, note)
    wishes = [(f, *wanted_name(f)) for f in files if f.rel not in placed]
    for keeps_name in (True, False):
        for file, wanted, note in wishes:
            if (note is None) != keeps_name:
                continue
            output, why = wanted, note
            if wanted.casefold() in taken:
                output = _free_name(file, wanted, taken)
                why = f"{note + '; ' if note else ''}{PurePosixPath(wanted).name} was taken"
            taken.add(output.casefold())
            placed[file.rel] = Placement(file.rel, output, why)
    return [placed[f.rel] for f in given]


def _free_name(file: MediaFile, wanted: str, taken: set[str]) -> str:
    target = PurePosixPath(wanted)
    source = PurePosixPath(file.rel)
    base = source.name if source.suffix.lower() != target.suffix.lower() else source.stem
    candidates = [target.with_name(f"{base}{target.suffix}")] if base != target.stem else []
    candidates += [target.with_name(f"{base}.{n}{target.suffix}") for n in range(2, 10_000)]
    for candidate in candidates:
        if str(candidate).casefold() not in taken:
            return str(candidate)
    raise RuntimeError(f"no free output name for {file.rel}")
