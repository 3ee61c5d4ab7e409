"""The face data folder's layout: which images exist, their labels and their splits.

Expected layout (see the project README):
    gender/{train,val}/{male,female}/*.jpg   tight face crops
    celeba/images/*.jpg                      whole aligned-and-cropped CelebA photos
    celeba/attributes.csv                    CelebA's 40 attributes (its `Male` is the label)
    celeba/labels.csv                        file,gender for some photos (older data folders)

The held-out CelebA photos (split "test"), which no model trains or fits on, are fixed by the
data and a seed: the labelled photos whose name has an odd CRC32 (the latent model's held-out
half since its first fit), topped up per class with a seeded random draw until each class has
`HELD_OUT_FRACTION` of its photos held out (stratified).
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import Gender

TIGHT = "tight"  # the image is the face: landmarks are fitted in the whole frame
PHOTO = "photo"  # a photo with a face somewhere: the detector finds it

SPLITS = ("train", "val", "test", "unlabelled")
HELD_OUT_FRACTION = 0.2
HELD_OUT_SEED = 20261202


@dataclass(frozen=True)
class FaceSource:
    """One image of the data folder with what we know about it."""

    path: Path
    kind: str
    gender: Gender | None
    split: str


def celeba_split(name: str) -> str:
    """train or test by the CRC32 of a labels.csv file's name: the half of `labels.csv` that
    the latent model never saw (the held-out set contains all of its "test" photos)."""
    return "test" if zlib.crc32(name.encode()) % 2 else "train"


def never_fitted(root: Path) -> set[str]:
    """The held-out photos the latent model was never fitted on either (its fit predates the
    larger hold-out): the labels.csv photos of `celeba_split` "test"."""
    return _crc_test_half(read_labels(Path(root) / "celeba" / "labels.csv"))


def _crc_test_half(listed: Collection[str]) -> set[str]:
    return {name for name in listed if celeba_split(name) == "test"}


def held_out_photos(
    labels: dict[str, Gender],
    listed: set[str],
    fraction: float = HELD_OUT_FRACTION,
    seed: int = HELD_OUT_SEED,
) -> set[str]:
    """The CelebA photos held out: per class, the `listed` (labels.csv) photos of
    `celeba_split` "test", plus a seeded random draw of the others up to `fraction` of the
    class. The same labels give the same set."""
    rng = np.random.default_rng(seed)
    always = _crc_test_half(listed)
    held: set[str] = set()
    for gender in Gender:
        names = sorted(n for n, g in labels.items() if g is gender)
        fixed = [n for n in names if n in always]
        others = [n for n in names if n not in always]
        wanted = max(0, round(fraction * len(names)) - len(fixed))
        drawn = rng.choice(len(others), size=min(wanted, len(others)), replace=False)
        held.update(fixed)
        held.update(others[i] for i in drawn)
    return held


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
    labels, listed = celeba_labels(root)
    held_out = held_out_photos(labels, listed)
    for path in sorted(images.glob("*.jpg")) if images.is_dir() else []:
        gender = labels.get(path.name)
        split = "unlabelled" if gender is None else "test" if path.name in held_out else "train"
        sources.append(FaceSource(path, PHOTO, gender, split))
    if not sources:
        raise InputError(
            f"no face images found under {root} (expected gender/ and celeba/ folders)"
        )
    return sources


def celeba_labels(root: Path) -> tuple[dict[str, Gender], set[str]]:
    """Every labelled CelebA photo's gender (labels.csv, and CelebA's `Male` attribute) and
    the names labels.csv lists: what `held_out_photos` takes."""
    listed = read_labels(Path(root) / "celeba" / "labels.csv")
    return {**listed, **read_male_attribute(Path(root) / "celeba" / "attributes.csv")}, set(listed)


def read_labels(path: Path) -> dict[str, Gender]:
    """file → gender from a labels.csv (`file,gender`); {} without it."""
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {row["file"]: Gender(row["gender"]) for row in csv.DictReader(handle)}


def read_male_attribute(path: Path) -> dict[str, Gender]:
    """file → gender from CelebA's `Male` attribute (1 male; 0 or -1 female); {} without it."""
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {
            row["file"]: Gender.MALE if int(row["Male"]) > 0 else Gender.FEMALE
            for row in csv.DictReader(handle)
        }


def kind_of(relative: str) -> str:
    """TIGHT or PHOTO for a file named relative to the data folder."""
    return TIGHT if relative.startswith("gender/") else PHOTO
