"""The fitted latent face model and the geometry it shares with its users.

Coordinates are in "unit crop" space: a point's pixel position in an aligned N×N crop divided
by N, so one model serves every crop size. The texture frame is a T×T image of the mean shape;
a face's texture is its crop warped onto that frame, sampled at the pixels inside the face hull.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import get_type_hints

import cv2
import numpy as np

from ..errors import WeightsError
from ..types import Gender
from .warp import FixedTarget

OUTLINE = np.r_[0:17, 26:16:-1]  # jaw, then brows right to left: a loop around the face
RING_SCALE = 1.3  # anchor ring: the outline pushed out from the face centre by this factor
BORDER = np.array(
    [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [0.5, 1], [0, 1], [0, 0.5]], np.float32
)


def anchor_ring(points: np.ndarray) -> np.ndarray:
    """Points around a face (unit or pixel coordinates) that a swap keeps fixed, so every
    displacement fades to nothing before the blend mask's edge."""
    centre = points[27:36].mean(axis=0)  # the nose: the middle of the face in any pose
    outline = points[OUTLINE]
    return (centre + (outline - centre) * RING_SCALE).astype(np.float32)


def control_points(landmarks: np.ndarray, ring_from: np.ndarray, size: float) -> np.ndarray:
    """Landmarks, the anchor ring of `ring_from`, and the frame border, all in pixels of a
    size×size image (inputs in unit coordinates)."""
    return np.concatenate([landmarks, anchor_ring(ring_from), BORDER]) * size


@dataclass(frozen=True, eq=False)
class LatentFaceModel:
    """Shape PCA, texture PCA and gender directions, as fitted by `faceanon fit swapper`.

    `direction_*` point from male to female in coefficient space (the class centres'
    difference); `class_mean_*` are the centres themselves, rows in `Gender` order.
    """

    mean_shape: np.ndarray  # (68, 2) unit coordinates
    shape_basis: np.ndarray  # (ks, 136) orthonormal rows
    shape_sd: np.ndarray  # (ks,)
    texture_size: int
    texture_pixels: np.ndarray  # (m,) flat indices into the T×T frame
    texture_weight: np.ndarray  # (m,) feathering towards the hull edge, 0–1
    mean_texture: np.ndarray  # (m, 3) BGR, 0–255
    texture_basis: np.ndarray  # (kt, 3m) orthonormal rows
    texture_sd: np.ndarray  # (kt,)
    triangles: np.ndarray  # (k, 3) over control_points
    direction_shape: np.ndarray  # (ks,)
    direction_texture: np.ndarray  # (kt,)
    class_mean_shape: np.ndarray  # (2, ks)
    class_mean_texture: np.ndarray  # (2, kt)
    context_size: int  # C: the whole crop on the mean shape, at low resolution, for synthesis
    context_mean: np.ndarray  # (C·C·3,)
    context_basis: np.ndarray  # (kc, C·C·3) orthonormal rows
    context_sd: np.ndarray  # (kc,)
    class_mean_context: np.ndarray  # (2, kc)
    default_strength: float
    shape_gain: float = 1.0  # the shape moves shape_gain·α along its direction, texture α
    # The identity pull: the swap also moves each face this share of the way from its own code
    # towards the centre of its new class, leaving the leading components alone (shape: pose
    # and mouth opening; texture: lighting and skin tone). 0: the gender change only.
    identity_pull: float = 0.0
    # The default identity mode (`identity.MODES`) and its parameters, as calibrated.
    identity_mode: str = "pull"
    identity_k: int = 5
    identity_epsilon: float = 2000.0
    # What of the face the swap keeps as its own, as Gaussian sigmas (share of the texture
    # frame's side) the texture difference is band-passed with: its colour per region (coarser
    # than tone_sigma) and its fine detail (finer than detail_sigma). 0: the band is changed.
    tone_sigma: float = 0.0
    detail_sigma: float = 0.0
    pull_free_shape: int = 5
    pull_free_texture: int = 5
    # Within-gender attribute directions (coefficient units, shape then texture): women with
    # heavy make-up minus those without; men with any facial hair minus clean-shaven ones.
    # Projected out of the gender direction; optional controls. Empty in older files.
    makeup_direction: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    facial_hair_direction: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    # Where clean faces sit along those directions (whitened codes on the unit direction):
    # clean-shaven men on facial hair, make-up-free women on make-up. A face turned woman
    # loses facial hair beyond the first, a face turned man make-up beyond the second.
    facial_hair_level: float = 0.0
    makeup_level: float = 0.0
    take_off_attributes: bool = True
    # The k-Same gallery: identity coefficients (shape[pull_free_shape:], then
    # texture[pull_free_texture:]) of fitted faces, divided by their component's sd, float16,
    # and each face's class (0 male, 1 female). Empty in older files.
    gallery_codes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float16))
    gallery_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))

    # -- geometry ------------------------------------------------------------------------
    def texture_points(self) -> np.ndarray:
        """Control points of the mean shape in texture-frame pixels."""
        return control_points(self.mean_shape, self.mean_shape, self.texture_size)

    def texture_image(self, values: np.ndarray, weighted: bool = True) -> np.ndarray:
        """Scatter (m, 3) texture values into a T×T×3 float32 image, zero outside the face."""
        t = self.texture_size
        image = np.zeros((t * t, 3), np.float32)
        image[self.texture_pixels] = values * (self.texture_weight[:, None] if weighted else 1.0)
        return image.reshape(t, t, 3)

    # -- codes ---------------------------------------------------------------------------
    def shape_code(self, landmarks_unit: np.ndarray) -> np.ndarray:
        return self.shape_basis @ (landmarks_unit.reshape(-1) - self.mean_shape.reshape(-1))

    def decode_shape_delta(self, code_delta: np.ndarray) -> np.ndarray:
        """(68, 2) unit-coordinate displacement for a change of shape code."""
        return (code_delta @ self.shape_basis).reshape(68, 2)

    @cached_property
    def _texture_target(self) -> FixedTarget:
        t = self.texture_size
        return FixedTarget.build(self.texture_points(), self.triangles, (t, t), self.texture_pixels)

    def sample_texture(self, crop: np.ndarray, landmarks_unit: np.ndarray) -> np.ndarray:
        """The face's shape-free texture, (m, 3) float32."""
        src = control_points(landmarks_unit, landmarks_unit, crop.shape[0])
        return self._texture_target.sample(crop, src)

    def texture_codes(self, textures: np.ndarray) -> np.ndarray:
        """(n, kt) codes of (n, m, 3) textures, in one product with the basis."""
        centred = (textures - self.mean_texture).reshape(len(textures), -1)
        # the basis times the textures' columns: OpenBLAS's fast path for a frame's few faces
        return (self.texture_basis @ centred.T).T

    def decode_texture_delta(self, code_delta: np.ndarray) -> np.ndarray:
        return (code_delta @ self.texture_basis).reshape(-1, 3)

    def texture_residuals(self, textures: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """(n, m, 3) what the texture components leave out of (n, m, 3) textures whose
        (n, kt) codes are `codes`: each texture minus its code decoded."""
        return textures - self.mean_texture - self.decode_texture_deltas(codes)

    def decode_texture_deltas(self, code_deltas: np.ndarray) -> np.ndarray:
        """(n, m, 3) texture differences of (n, kt) code differences."""
        return (code_deltas @ self.texture_basis).reshape(len(code_deltas), -1, 3)

    @property
    def code_sd(self) -> np.ndarray:
        """(ks+kt,) the sd of every coefficient, shape then texture."""
        return np.concatenate([self.shape_sd, self.texture_sd])

    def identity_index(self) -> np.ndarray:
        """Indices into a (ks+kt) code of its identity part: every coefficient but the leading
        pose/mouth (shape) and lighting/skin-tone (texture) components."""
        ks = len(self.shape_sd)
        return np.r_[
            self.pull_free_shape : ks, ks + self.pull_free_texture : ks + len(self.texture_sd)
        ]

    def target_index(self, gender: Gender) -> int:
        return [Gender.MALE, Gender.FEMALE].index(gender.opposite)

    # -- storage -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        arrays = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.dtype == np.float64:
                value = value.astype(np.float32)
            if f.name in ("texture_basis", "context_basis", "gallery_codes"):
                value = value.astype(np.float16)  # the bulk of the file; fp16 is plenty
            arrays[f.name] = np.asarray(value)
        with path.open("wb") as handle:
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: Path) -> LatentFaceModel:
        try:
            with np.load(path) as data:
                values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
                missing = [f.name for f in fields(cls) if f.name not in data and _required(f)]
                if missing:
                    raise KeyError(", ".join(missing))
        except (OSError, KeyError, ValueError) as error:
            raise WeightsError(f"{path.name} is not a latent face model: {error}") from error
        for name in ("texture_basis", "context_basis", "gallery_codes"):
            if name in values:
                # in rows, as the products expect: files hold the basis in column order, in
                # which one product for a frame's few faces was slower than one a face
                values[name] = np.ascontiguousarray(values[name], dtype=np.float32)
        for name, kind in get_type_hints(cls).items():
            if name in values and kind in (int, float, str, bool):
                values[name] = kind(values[name])
        return cls(**values)


def _required(f: Field) -> bool:
    """Whether a model file must hold this field (older files lack the ones with defaults)."""
    return f.default is MISSING and f.default_factory is MISSING


def hull_weight(mean_shape: np.ndarray, size: int, feather: float = 0.04) -> np.ndarray:
    """A T×T float mask of the mean face hull, feathered inward (for texture_weight)."""
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(mean_shape * size).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    radius = max(1, round(feather * size))
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    soft = cv2.GaussianBlur(inner.astype(np.float32) / 255, (0, 0), radius / 2)
    return np.where(mask > 0, soft, 0).astype(np.float32)
