"""The face data folder's layout: which images exist, their labels and their splits.

Expected layout (see the project README):
    gender/{train,val}/{male,female}/*.jpg   tight face crops
    celeba/images/*.jpg                      whole aligned-and-cropped CelebA photos
    celeba/labels.csv                        file,gender for some of those photos
Half of the labelled CelebA photos (chosen by a hash of the file name, so the split never
changes) are held out as a test set that no model trains or fits on.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..types import Gender

TIGHT = "tight"  # the image is the face: landmarks are fitted in the whole frame
PHOTO = "photo"  # a photo with a face somewhere: the detector finds it

SPLITS = ("train", "val", "test", "unlabelled")


@dataclass(frozen=True)
class FaceSource:
    """One image of the data folder with what we know about it."""

    path: Path
    kind: str
    gender: Gender | None
    split: str


def celeba_split(name: str) -> str:
    """train or test for a labelled CelebA file, fixed by its name."""
    return "test" if zlib.crc32(name.encode()) % 2 else "train"


def list_sources(root: Path) -> list[FaceSource]:
    """Every usable image under `root`, in a fixed order."""
    root = Path(root)
    sources: list[FaceSource] = []
    for split in ("train", "val"):
        for gender in Gender:
            folder = root / "gender" / split / gender.value
            for path in sorted(folder.glob("*.jpg")) if folder.is_dir() else []:
                sources.append(FaceSource(path, TIGHT, gender, split))
    images = root / "celeba" / "images"
    labels = _read_labels(root / "celeba" / "labels.csv")
    for path in sorted(images.glob("*.jpg")) if images.is_dir() else []:
        gender = labels.get(path.name)
        split = celeba_split(path.name) if gender else "unlabelled"
        sources.append(FaceSource(path, PHOTO, gender, split))
    if not sources:
        raise InputError(
            f"no face images found under {root} (expected gender/ and celeba/ folders)"
        )
    return sources


def _read_labels(path: Path) -> dict[str, Gender]:
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {row["file"]: Gender(row["gender"]) for row in csv.DictReader(handle)}


def kind_of(relative: str) -> str:
    """TIGHT or PHOTO for a file named relative to the data folder."""
    return TIGHT if relative.startswith("gender/") else PHOTO
