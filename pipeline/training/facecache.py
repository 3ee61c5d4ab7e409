"""Aligned crops and landmarks of every face in a data folder, computed once and cached.

Both the classifier's training and the latent model's fitting read faces through this module,
and it aligns them with the pipeline's own detector, landmarker and `align_face`, so models see
at training time exactly the kind of crop they get at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..align import align_face
from ..detect import PHOTO_DETECTOR, DetectorConfig, FaceDetector
from ..landmarks import Landmarker, implausibility
from ..types import Box, Gender
from ..weights import user_cache_dir
from .dataset import PHOTO, FaceSource, list_sources

CACHE_VERSION = 3  # 3: photos found as `faceanon classify` and `faceanon image` find them
CLASSES = (Gender.MALE, Gender.FEMALE)  # class index of each gender in labels and models
UNLABELLED = -1
_TIGHT_PAD = 0.4  # tight crops are padded by this fraction before detection


@dataclass(frozen=True, eq=False)
class FaceSet:
    """Aligned faces: crops (n, S, S, 3) BGR uint8, landmarks (n, 68, 2) in crop pixels,
    labels (n,) class index or -1, and each face's split and source file (relative to the
    data folder)."""

    crops: np.ndarray
    landmarks: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    names: np.ndarray

    @property
    def size(self) -> int:
        return int(self.crops.shape[1])

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> FaceSet:
        """The faces where the boolean mask `keep` is true (crops stay memory-mapped)."""
        index = np.flatnonzero(keep)
        return FaceSet(
            crops=_LazyRows(self.crops, index),
            landmarks=self.landmarks[index],
            labels=self.labels[index],
            splits=self.splits[index],
            names=self.names[index],
        )

    def of_files(self, files: Collection[str]) -> FaceSet:
        """The faces whose source file's name (without its folder) is in `files`."""
        wanted = set(files)
        return self.subset(np.array([Path(str(n)).name in wanted for n in self.names], bool))

    def where(self, split: str, labelled: bool = True) -> FaceSet:
        keep = self.splits == split
        if labelled:
            keep &= self.labels != UNLABELLED
        return self.subset(keep)


class _LazyRows:
    """Rows of a memory-mapped array picked by index, read only when asked for."""

    def __init__(self, array: np.ndarray, index: np.ndarray) -> None:
        self.array, self.index = array, index
        self.shape = (len(index), *array.shape[1:])
        self.dtype = array.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item):
        return self.array[self.index[item]]

    def __array__(self, dtype=None, copy=None):
        rows = self.array[self.index]
        return rows if dtype is None else rows.astype(dtype)


def prepare_faces(
    root: Path,
    size: int = 192,
    cache_dir: Path | None = None,
    workers: int | None = None,
    quiet: bool = False,
    splits: Collection[str] | None = None,
) -> FaceSet:
    """Align every face under `root` (or load the cached result) and return them; `splits`
    limits the work to faces of those splits (e.g. just the held-out "test" faces)."""
    sources = list_sources(root)
    if splits is not None:
        sources = [s for s in sources if s.split in splits]
    key = _cache_key(sources, root, size)
    folder = Path(cache_dir or user_cache_dir())
    folder.mkdir(parents=True, exist_ok=True)
    crops_path, meta_path = folder / f"faces-{key}.npy", folder / f"faces-{key}.npz"
    if not (crops_path.is_file() and meta_path.is_file()):
        _build(sources, Path(root), size, crops_path, meta_path, workers, quiet)
    meta = np.load(meta_path)
    crops = np.load(crops_path, mmap_mode="r")
    # Labels and splits come from the data folder now, not from the cache: the crops depend
    # only on the images, so relabelling or re-splitting never re-aligns.
    labels = np.array(
        [CLASSES.index(s.gender) if s.gender else UNLABELLED for s in sources], np.int8
    )
    return FaceSet(
        crops=crops,
        landmarks=meta["landmarks"],
        labels=labels,
        splits=np.array([s.split for s in sources]),
        names=meta["names"],
    ).subset(meta["ok"])


def _cache_key(sources: list[FaceSource], root: Path, size: int) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, size]).encode())
    for source in sources:
        digest.update(f"{source.path.relative_to(root).as_posix()}|{source.kind}".encode())
    return f"{size}-{digest.hexdigest()[:16]}"


def _build(sources, root: Path, size, crops_path: Path, meta_path: Path, workers, quiet) -> None:
    n = len(sources)
    partial = crops_path.with_suffix(".partial.npy")
    crops = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    landmarks = np.zeros((n, 68, 2), np.float32)
    ok = np.zeros(n, bool)
    jobs = [(str(s.path), s.kind, size) for s in sources]
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        results = pool.map(_align_one, jobs, chunksize=64)
        for i, result in enumerate(tqdm(results, total=n, desc="aligning faces", disable=quiet)):
            if result is not None:
                crops[i], landmarks[i] = result
                ok[i] = True
    crops.flush()
    del crops
    np.savez(
        meta_path.with_suffix(".partial.npz"),
        landmarks=landmarks,
        ok=ok,
        names=np.array([s.path.relative_to(root).as_posix() for s in sources]),
    )
    os.replace(partial, crops_path)
    os.replace(meta_path.with_suffix(".partial.npz"), meta_path)


_worker_state: dict[str, object] = {}


def _align_one(job: tuple[str, str, int]) -> tuple[np.ndarray, np.ndarray] | None:
    path, kind, size = job
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        return None
    if "landmarker" not in _worker_state:
        _worker_state["landmarker"] = Landmarker()
    landmarker: Landmarker = _worker_state["landmarker"]  # type: ignore[assignment]
    located = locate_face(image, kind)
    if located is None:
        return None
    image, box = located
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    points = landmarker.fit(gray, box)
    if implausibility(points, box) is not None:
        return None
    crop = align_face(image, points, size)
    return crop.image, crop.landmarks


def locate_face(image: np.ndarray, kind: str) -> tuple[np.ndarray, Box] | None:
    """The frame a data image is processed in (tight crops get padded) and its face's box."""
    if kind == PHOTO:
        found = FaceDetector(PHOTO_DETECTOR).detect(image)
        return (image, max(found, key=lambda d: d.box.area).box) if found else None
    return _tight_face(image)


def _tight_face(image: np.ndarray) -> tuple[np.ndarray, Box]:
    """Pad a tight crop so the detector sees context; fall back to the crop as the box."""
    h, w = image.shape[:2]
    pad = int(_TIGHT_PAD * max(h, w))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    found = FaceDetector(DetectorConfig(min_face=max(20, int(0.6 * min(h, w))))).detect(padded)
    cx, cy = pad + w / 2, pad + h / 2
    central = [
        d for d in found if abs(d.box.center[0] - cx) < w / 4 and abs(d.box.center[1] - cy) < h / 4
    ]
    if central:
        return padded, max(central, key=lambda d: d.box.area).box
    return padded, Box(pad, pad, pad + w, pad + h)
