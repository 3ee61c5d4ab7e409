"""The clean gender direction and the k-Same gallery (`faceanon fit gallery`).

Both come from the CelebA photos of the latent model's fit set (the 'train' half of labelled
CelebA and the unlabelled photos; the 'test' half stays held out), coded by the fitted model,
with CelebA's own attributes:
- the gender direction is fitted on make-up-free women and clean-shaven men only, and then
  the within-gender make-up, lipstick and facial-hair directions are projected out of it
  (conditional manipulation, as InterFaceGAN does for entangled attributes), so a swap neither
  paints make-up on nor stubble;
- the gallery is the identity part of the codes of those same make-up-free women and
  clean-shaven men (whitened, float16), which k-Same averages.
"""

from __future__ import annotations

import csv
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..latent.model import LatentFaceModel
from ..latent.swapper import CARD_KIND, CARD_NAME, CARD_VERSION
from ..weights import read_card, write_card
from .facecache import FaceSet, prepare_faces
from .latent_fit import FIT_SIZE, discriminant_direction

MAKEUP = ("Heavy_Makeup", "Wearing_Lipstick")
FACIAL_HAIR = ("Mustache", "Goatee", "5_o_Clock_Shadow")  # and No_Beard == 0


@dataclass(frozen=True)
class PhotoCodes:
    """Latent codes (n, ks+kt) of CelebA fit-set photos with their attributes (n,) each."""

    names: np.ndarray
    codes: np.ndarray
    male: np.ndarray
    makeup: np.ndarray  # Heavy_Makeup or Wearing_Lipstick
    lipstick: np.ndarray
    heavy_makeup: np.ndarray
    facial_hair: np.ndarray  # any beard, moustache, goatee or stubble

    @property
    def clean(self) -> np.ndarray:
        """Make-up-free women and clean-shaven men."""
        return np.where(self.male, ~self.facial_hair, ~self.makeup)


def read_attributes(path: Path) -> dict[str, dict[str, int]]:
    with path.open(newline="") as handle:
        return {
            row["file"]: {k: int(v) for k, v in row.items() if k != "file"}
            for row in csv.DictReader(handle)
        }


def celeba_fit_faces(data: Path, cache_dir: Path | None, quiet: bool) -> FaceSet:
    """The CelebA photos of the fit set, aligned as the fit aligned them (cached)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "celeba").symlink_to(Path(data).resolve() / "celeba")
        faces = prepare_faces(
            root, size=FIT_SIZE, cache_dir=cache_dir, quiet=quiet, splits={"train", "unlabelled"}
        )
    return faces


def code_faces(model: LatentFaceModel, faces: FaceSet) -> np.ndarray:
    """(n, ks+kt) codes of aligned faces, as the swapper codes them."""
    codes = []
    for start in range(0, len(faces), 512):
        crops = np.asarray(faces.crops[start : start + 512])
        units = faces.landmarks[start : start + 512] / faces.size
        textures = np.stack([model.sample_texture(c, u) for c, u in zip(crops, units, strict=True)])
        shapes = np.stack([model.shape_code(u) for u in units])
        codes.append(np.concatenate([shapes, model.texture_codes(textures)], axis=1))
    return np.concatenate(codes).astype(np.float32)


def photo_codes(model: LatentFaceModel, faces: FaceSet, attributes_csv: Path) -> PhotoCodes:
    attributes = read_attributes(attributes_csv)
    names = np.array([Path(str(n)).name for n in faces.names])
    keep = np.array([n in attributes for n in names])
    names = names[keep]
    rows = [attributes[n] for n in names]

    def column(name: str) -> np.ndarray:
        return np.array([r[name] == 1 for r in rows])

    facial_hair = ~column("No_Beard")
    for name in FACIAL_HAIR:
        facial_hair |= column(name)
    return PhotoCodes(
        names=names,
        codes=code_faces(model, faces.subset(keep)),
        male=column("Male"),
        makeup=column("Heavy_Makeup") | column("Wearing_Lipstick"),
        lipstick=column("Wearing_Lipstick"),
        heavy_makeup=column("Heavy_Makeup"),
        facial_hair=facial_hair,
    )


def attribute_directions(photos: PhotoCodes, sd: np.ndarray) -> dict[str, np.ndarray]:
    """Within-gender attribute directions in whitened coordinates: with minus without."""
    white = photos.codes / sd
    women, men = ~photos.male, photos.male

    def diff(group: np.ndarray, has: np.ndarray) -> np.ndarray:
        return white[group & has].mean(axis=0) - white[group & ~has].mean(axis=0)

    return {
        "heavy_makeup": diff(women, photos.heavy_makeup),
        "lipstick": diff(women, photos.lipstick),
        "facial_hair": diff(men, photos.facial_hair),
    }


def clean_direction(
    photos: PhotoCodes, sd: np.ndarray, attributes: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict]:
    """The male → female direction (coefficient units) of make-up-free women against
    clean-shaven men (Fisher discriminant), with every attribute direction projected out."""
    clean = photos.clean
    labels = (~photos.male[clean]).astype(np.int64)  # 0 male, 1 female
    step = discriminant_direction(photos.codes[clean], sd, labels) / sd  # whitened
    # an orthonormal basis of the attribute directions' span (SVD, so that directions that
    # nearly coincide, such as make-up and lipstick, add no arbitrary extra axis)
    u, s, _ = np.linalg.svd(np.stack(list(attributes.values()), axis=1), full_matrices=False)
    basis = u[:, s > 1e-6 * s[0]]
    before = float(np.linalg.norm(step))
    projected = step - basis @ (basis.T @ step)
    # keep the step's reach along the gender axis: as far along the old step as before
    projected *= (step @ step) / (projected @ step)
    cosines = {
        name: round(float(a @ step / (np.linalg.norm(a) * before)), 3)
        for name, a in attributes.items()
    }
    facts = {
        "clean_women": int((clean & ~photos.male).sum()),
        "clean_men": int((clean & photos.male).sum()),
        "cosine_with_attribute_before_projection": cosines,
    }
    return projected * sd, facts


def gallery(photos: PhotoCodes, model: LatentFaceModel) -> tuple[np.ndarray, np.ndarray]:
    """Whitened identity coefficients (float16) and class index (0 male, 1 female) of the
    make-up-free women and clean-shaven men."""
    sd = np.concatenate([model.shape_sd, model.texture_sd])
    ks = len(model.shape_sd)
    white = photos.codes[photos.clean] / sd
    identity = np.concatenate(
        [white[:, model.pull_free_shape : ks], white[:, ks + model.pull_free_texture :]], axis=1
    )
    labels = (~photos.male[photos.clean]).astype(np.int8)
    return identity.astype(np.float16), labels


def _level(photos: PhotoCodes, sd: np.ndarray, direction: np.ndarray, group: np.ndarray) -> float:
    """The clean faces of `group`: their mean whitened code along the unit `direction`."""
    unit = direction / np.linalg.norm(direction)
    return float((photos.codes[photos.clean & group] / sd @ unit).mean())


def with_gallery(model: LatentFaceModel, photos: PhotoCodes) -> tuple[LatentFaceModel, dict]:
    """The model with the clean direction, the attribute directions, the gallery, and the
    class centres of the clean faces (what the class-mean pull moves towards)."""
    sd = np.concatenate([model.shape_sd, model.texture_sd])
    attributes = attribute_directions(photos, sd)
    direction, facts = clean_direction(photos, sd, attributes)
    ks = len(model.shape_sd)
    codes, labels = gallery(photos, model)
    clean = photos.codes[photos.clean]
    centres = np.stack([clean[labels == k].mean(axis=0) for k in (0, 1)]).astype(np.float32)
    new = replace(
        model,
        class_mean_shape=centres[:, :ks],
        class_mean_texture=centres[:, ks:],
        direction_shape=direction[:ks].astype(np.float32),
        direction_texture=direction[ks:].astype(np.float32),
        makeup_direction=(attributes["heavy_makeup"] * sd).astype(np.float32),
        facial_hair_direction=(attributes["facial_hair"] * sd).astype(np.float32),
        facial_hair_level=_level(photos, sd, attributes["facial_hair"], photos.male),
        makeup_level=_level(photos, sd, attributes["heavy_makeup"], ~photos.male),
        gallery_codes=codes,
        gallery_labels=labels,
    )
    facts["gallery"] = {"male": int((labels == 0).sum()), "female": int((labels == 1).sum())}
    return new, facts


def add_gallery(
    data: Path, weights_dir: Path, cache_dir: Path | None = None, quiet: bool = False
) -> dict:
    """`faceanon fit swapper --gallery`: keep the fitted model, replace its gender direction by
    the clean one, add the attribute directions and the k-Same gallery, and record it on the
    card (which keeps the fit's record). Returns the card."""
    started = time.time()
    card, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION, weights_dir)
    model = LatentFaceModel.load(path)
    faces = celeba_fit_faces(data, cache_dir, quiet)
    photos = photo_codes(model, faces, Path(data) / "celeba" / "attributes.csv")
    new, facts = with_gallery(model, photos)
    new.save(path)
    fields = {k: v for k, v in card.items() if k not in ("name", "kind", "version", "file")}
    fields.pop("sha256", None)
    fields["gallery_fit"] = {
        **facts,
        "data": "CelebA photos of the fit set (the 'train' half of labelled CelebA and the "
        "unlabelled photos; the 'test' half, split by CRC32 of the file name, is held out), "
        f"{len(photos.names)} coded, with CelebA's attributes",
        "clean": "women without Heavy_Makeup and Wearing_Lipstick; men with No_Beard and "
        "without Mustache, Goatee and 5_o_Clock_Shadow",
        "direction": "Fisher discriminant (whitened, ridge 0.1) of clean women against clean "
        "men, with the within-gender heavy make-up, lipstick and facial-hair directions "
        "projected out (in whitened coordinates), rescaled to the old step's reach along "
        "itself",
        "command": "faceanon fit swapper --data ../shared/data --gallery",
        "minutes": round((time.time() - started) / 60, 1),
    }
    write_card(path.parent, CARD_NAME, CARD_KIND, CARD_VERSION, path, **fields)
    return read_card(CARD_NAME, CARD_KIND, CARD_VERSION, path.parent)[0]
