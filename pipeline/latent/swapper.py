"""The default swap backend: move each face along the latent model's gender direction.

Per face: the landmarks move by the decoded shape difference, the crop is warped onto the new
shape, and the decoded texture difference (defined on the mean shape) is warped onto the new
shape and added. The face's own pixels carry through, so skin detail, glasses and expression
survive; only what separates the two class centres changes. Everything outside the anchor
ring stays put, and the returned mask covers exactly the ring. The warp renders with OpenCV
on the CPU, or with torch on a GPU (`render_torch`); codes and decodes are numpy on the CPU.

The identity pull (the model's `identity_pull`, or the caller's) also moves the face part of
the way from its own shape and texture codes towards the centre of its new class, leaving the
leading components (pose, mouth opening, lighting, skin tone) alone: what makes the person
recognisable fades while expression and skin detail stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from ..blend import hull_mask
from ..device import resolve_device
from ..types import AlignedCrop, Gender
from ..weights import read_card
from .model import LatentFaceModel, anchor_ring, control_points
from .render_torch import render_on
from .warp import affine_maps, remap_grid, triangle_labels

CARD_NAME = "latent_swapper"
CARD_KIND = "latent-face-model"
CARD_VERSION = 1


class LatentSwapper:
    """`Swapper` over a fitted `LatentFaceModel` (a few milliseconds a face on the CPU).
    `render_device`: torch renders the warp there (`load` picks the GPU when there is one);
    None: OpenCV on the CPU."""

    name = "latent"

    def __init__(
        self,
        model: LatentFaceModel,
        card: dict | None = None,
        identity_pull: float | None = None,
        render_device: torch.device | None = None,
    ) -> None:
        self.model = model
        self.render_device = render_device
        self.card = card or {}
        self.default_strength = model.default_strength
        self.identity_pull = model.identity_pull if identity_pull is None else identity_pull
        # The texture difference of one unit of the direction, male → female, on the mean shape,
        # made colour neutral: its median over the face (the skin) is removed, so a swap
        # changes features (brows, lips, beard shadow) but casts no tint and does not lighten
        # or darken the skin (a mean would, pulled by the strongly changed features).
        delta = model.decode_texture_delta(model.direction_texture)
        delta = delta - np.median(delta[model.texture_weight > 0.5], axis=0)
        self._texture_delta = model.texture_image(delta)
        self._shape_delta = model.shape_gain * model.decode_shape_delta(model.direction_shape)
        self._texture_points = model.texture_points()
        self._skin = model.texture_weight > 0.5

    @classmethod
    def load(
        cls,
        weights_dir: Path | None = None,
        device: str = "auto",
        identity_pull: float | None = None,
    ) -> LatentSwapper:
        card, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION, weights_dir)
        chosen = resolve_device(device)
        render_device = chosen if chosen.type != "cpu" else None  # OpenCV is faster on a CPU
        return cls(LatentFaceModel.load(path), card, identity_pull, render_device)

    def swap(
        self, crops: Sequence[AlignedCrop], genders: Sequence[Gender], strength: float | None = None
    ) -> list[AlignedCrop]:
        alpha = self.default_strength if strength is None else strength
        units = [crop.landmarks / crop.image.shape[0] for crop in crops]
        pulls = (
            self._pulls(crops, units, genders)
            if self.identity_pull > 0 and crops
            else [None] * len(crops)
        )
        return [
            self._swap_one(crop, unit, gender, alpha, pull)
            for crop, unit, gender, pull in zip(crops, units, genders, pulls, strict=True)
        ]

    def _swap_one(
        self,
        crop: AlignedCrop,
        unit: np.ndarray,
        gender: Gender,
        alpha: float,
        pull: tuple[np.ndarray, np.ndarray] | None,
    ) -> AlignedCrop:
        size = crop.image.shape[0]
        sign = 1.0 if gender is Gender.MALE else -1.0
        move = sign * alpha * self._shape_delta
        texture = self._texture_delta * (sign * alpha)
        if pull is not None:
            move = move + pull[0]
            texture = texture + pull[1]
        new_unit = unit + move
        src = control_points(unit, unit, size)
        dst = control_points(new_unit, unit, size)
        image, mask = render(
            crop.image,
            src,
            dst,
            self.model.triangles,
            self._texture_points,
            texture,
            self.render_device,
        )
        return AlignedCrop(
            image=image,
            landmarks=(new_unit * size).astype(np.float32),
            alignment=crop.alignment,
            mask=mask,
        )

    def _pulls(
        self, crops: Sequence[AlignedCrop], units: Sequence[np.ndarray], genders: Sequence[Gender]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The identity pull of each face, now of the other gender: its landmark displacement
        (68, 2, unit coordinates) and its texture-frame difference (colour neutral, like the
        gender's). The texture codes of all faces are found and decoded in one product each,
        one pass over the texture basis for the whole frame."""
        m = self.model
        targets = [m.target_index(gender) for gender in genders]
        textures = np.stack(
            [m.sample_texture(crop.image, unit) for crop, unit in zip(crops, units, strict=True)]
        )
        codes = m.texture_codes(textures)
        texture_moves = m.class_mean_texture[targets] - codes
        texture_moves[:, : m.pull_free_texture] = 0
        deltas = m.decode_texture_deltas(self.identity_pull * texture_moves)
        pulls = []
        for unit, target, delta in zip(units, targets, deltas, strict=True):
            shape = m.class_mean_shape[target] - m.shape_code(unit)
            shape[: m.pull_free_shape] = 0
            delta = delta - np.median(delta[self._skin], axis=0)
            pulls.append((self.identity_pull * m.decode_shape_delta(shape), m.texture_image(delta)))
        return pulls


SMOOTHING = 1 / 80  # the face warp's displacement blur, as a share of the crop's side


def smooth_displacement(
    map_x: np.ndarray, map_y: np.ndarray, origin: tuple[int, int], sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Remap maps whose displacement from the identity is Gaussian-blurred. A piecewise-affine
    warp is continuous, but its stretch jumps from one triangle to the next: on a smoothly lit
    face, long triangle edges (eye corner to jaw) then show as creases. Blurred, the
    displacement keeps its course and loses the kinks; it is zero outside the triangulation,
    so the anchor ring stays put."""
    height, width = map_x.shape
    xs = np.arange(width, dtype=np.float32)[None, :] + np.float32(origin[0])
    ys = np.arange(height, dtype=np.float32)[:, None] + np.float32(origin[1])
    blur = {"ksize": (0, 0), "sigmaX": sigma, "borderType": cv2.BORDER_CONSTANT}
    return (
        xs + cv2.GaussianBlur(map_x - xs, **blur),
        ys + cv2.GaussianBlur(map_y - ys, **blur),
    )


def smooth_within(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """`values` Gaussian-blurred over the pixels where `weight` is 1 only (normalised
    convolution: pixels outside do not leak in). The texture map squeezes a band of the
    texture frame into a thin triangle where a face's geometry departs from the mean shape
    (eye corner to jaw), which reads as a line across the face; blurred, the map spreads it."""
    blur = {"ksize": (0, 0), "sigmaX": sigma, "borderType": cv2.BORDER_CONSTANT}
    total = cv2.GaussianBlur(values * weight, **blur)
    return total / np.maximum(cv2.GaussianBlur(weight, **blur), 1e-6)


def render(
    image: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    triangles: np.ndarray,
    texture_points: np.ndarray,
    texture_delta: np.ndarray,
    device: torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp `image` from `src` to `dst` control points and add `texture_delta` (a texture-frame
    image) warped onto `dst`. Only the anchor ring's box is touched; returns image and mask.
    On `device` with torch (`render_torch`), else with OpenCV."""
    size = image.shape[0]
    ring = dst[68 : 68 + len(anchor_ring(dst[:68]))]
    left, top = np.clip(np.floor(ring.min(axis=0)).astype(int), 0, size)
    right, bottom = np.clip(np.ceil(ring.max(axis=0)).astype(int) + 1, 0, size)
    out = image.copy()
    if right - left < 2 or bottom - top < 2:
        return out, np.zeros((size, size), np.float32)
    mask = hull_mask(ring, size, feather=0.06)
    if device is not None:
        box = (int(left), int(top), int(right), int(bottom))
        out[top:bottom, left:right] = render_on(
            device, image, src, dst, triangles, texture_points, texture_delta, box, SMOOTHING * size
        )
        return out, mask
    labels = triangle_labels(dst - (left, top), triangles, (bottom - top, right - left))
    face_x, face_y = remap_grid(labels, affine_maps(src, dst, triangles), (left, top))
    face_x, face_y = smooth_displacement(face_x, face_y, (left, top), SMOOTHING * size)
    warped = cv2.remap(image, face_x, face_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    tex_x, tex_y = remap_grid(labels, affine_maps(texture_points, dst, triangles), (left, top))
    outside = labels < 0
    inside = (~outside).astype(np.float32)
    tex_x, tex_y = (smooth_within(m, inside, SMOOTHING * size) for m in (tex_x, tex_y))
    tex_x[outside] = tex_y[outside] = -1.0  # no texture change outside the triangulation
    delta = cv2.remap(texture_delta, tex_x, tex_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out[top:bottom, left:right] = np.clip(warped + delta, 0, 255).astype(np.uint8)
    return out, mask
