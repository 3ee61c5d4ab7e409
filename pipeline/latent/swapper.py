"""The default swap backend: move each face along the latent model's gender direction.

Per face: the landmarks move by the decoded shape difference, the crop is warped onto the new
shape, and the decoded texture difference (defined on the mean shape) is warped onto the new
shape and added. The face's own pixels carry through, so glasses, expression and (with
`detail="own"`) skin detail survive; only what separates the two class centres changes.
Everything outside the anchor ring stays put, and the returned mask covers exactly the ring.
The warp renders with OpenCV on the CPU, or with torch on a GPU (`render_torch`); codes and
decodes are numpy on the CPU.

The identity pull (the model's `identity_pull`, or the caller's) also moves the face part of
the way from its own shape and texture codes towards the centre of its new class, leaving the
leading components (pose, mouth opening, lighting, skin tone) alone: what makes the person
recognisable fades while expression and skin detail stay.

With the model's detail (`detail="model"`, the default; `--detail model`), the face's own
residual (what its texture code leaves out: the sharp edges of eyes, brows and lips, skin
texture, at the texture frame's resolution) is taken out as well, so the face is only what
the new code describes: a recogniser finds far less of the person in it, but the face looks
smoother.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..blend import hull_mask
from ..device import device_kind, resolve_device
from ..errors import InputError
from ..swap import DEFAULT_DETAIL, DETAILS, LatentChoices
from ..types import AlignedCrop, Gender
from ..weights import read_card
from .identity import IdentityMode, KSameGallery, choose_identity, dp_release
from .model import LatentFaceModel, anchor_ring, control_points
from .paint_guard import PaintGuard
from .warp import (
    MAP_STEP,
    affine_maps,
    dst_inverses,
    grid_points,
    map_grid,
    remap_grids,
    triangle_labels,
)

if TYPE_CHECKING:
    import torch

# A face darker than this share of the model's mean skin level (140 grey levels) takes a
# proportionally smaller texture change, but never less than EXPOSURE_FLOOR of it (see
# `exposure_gain`).
EXPOSURE_REFERENCE = 0.4
EXPOSURE_FLOOR = 0.25
CARD_NAME = "latent_swapper"
CARD_KIND = "latent-face-model"
CARD_VERSION = 1


class LatentSwapper:
    """`Swapper` over a fitted `LatentFaceModel` (a few milliseconds a face on the CPU).
    `render_device`: torch renders the warp there (`load` picks the GPU when there is one);
    None: OpenCV on the CPU. `paint_limit`: the most a swap may darken the eyes' surroundings
    of a new woman or jaw, chin and upper lip of a new man, in grey levels (`PaintGuard`);
    infinity: no limit (the default, chosen by measurement: README). `detail`: where the
    face's fine detail comes from, "model" (the default) or "own" (see the module)."""

    name = "latent"

    def __init__(
        self,
        model: LatentFaceModel,
        card: dict | None = None,
        identity_pull: float | None = None,
        render_device: torch.device | None = None,
        identity: IdentityMode | None = None,
        seed: int | None = None,
        paint_limit: float = math.inf,
        detail: str = DEFAULT_DETAIL,
    ) -> None:
        if detail not in DETAILS:
            raise InputError(f"unknown detail {detail!r} (choose from {', '.join(DETAILS)})")
        self.model = model
        self.detail = detail
        self.render_device = render_device
        self.card = card or {}
        self.default_strength = model.default_strength
        if identity is None:
            identity = default_identity(model)
        if identity_pull is not None:
            identity = replace(identity, kind="pull", pull=identity_pull)
        if identity.kind == "k-same" and len(model.gallery_labels) == 0:
            raise InputError("this latent model has no k-Same gallery (refit it with --gallery)")
        self.identity = identity
        # dp noise: fresh per face by default; `seed` makes a run repeatable, and `swap`'s
        # per-face seeds (e.g. one per track, so a face keeps its noise) override both
        self._rng = np.random.default_rng(seed)
        # The texture difference of one unit of the direction, male → female, on the mean shape,
        # made colour neutral: its median over the face (the skin) is removed, so a swap
        # changes features (brows, lips, beard shadow) but casts no tint and does not lighten
        # or darken the skin (a mean would, pulled by the strongly changed features).
        delta = model.decode_texture_delta(model.direction_texture)
        delta = delta - np.median(delta[model.texture_weight > 0.5], axis=0)
        self._weight = model.texture_image(np.ones_like(delta))[..., 0]
        self._texture_delta = self._own_tone_and_detail(model.texture_image(delta))
        self._shape_delta = model.shape_gain * model.decode_shape_delta(model.direction_shape)
        self._texture_points = model.texture_points()
        self._skin = model.texture_weight > 0.5
        self._skin_level = float(model.mean_texture[self._skin].mean())
        self._index = model.identity_index()
        self._sd = model.code_sd[self._index]
        self._gallery = KSameGallery(model.gallery_codes, model.gallery_labels)
        self._paint = PaintGuard(
            model.mean_shape * model.texture_size, model.texture_size, paint_limit
        )

    @property
    def identity_pull(self) -> float:
        """The class-mean pull in force (0 in the other identity modes)."""
        return self.identity.pull if self.identity.kind == "pull" else 0.0

    @identity_pull.setter
    def identity_pull(self, pull: float) -> None:
        self.identity = replace(self.identity, kind="pull", pull=pull)

    @classmethod
    def load(
        cls,
        weights_dir: Path | None = None,
        device: str = "auto",
        choices: LatentChoices | None = None,
        seed: int | None = None,
    ) -> LatentSwapper:
        """The shipped (or `weights_dir`'s) model; the identity choices override its
        calibrated mode as `choose_identity` says."""
        card, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION, weights_dir)
        # OpenCV is faster on a CPU, and needs no torch
        render_device = resolve_device(device) if device_kind(device) != "cpu" else None
        model = LatentFaceModel.load(path)
        c = choices or LatentChoices()
        identity = choose_identity(
            default_identity(model), c.identity_mode, c.identity_pull, c.k, c.epsilon
        )
        limit = math.inf if c.paint_limit is None else c.paint_limit
        detail = c.detail or DEFAULT_DETAIL
        return cls(model, card, None, render_device, identity, seed, limit, detail)

    def swap(
        self,
        crops: Sequence[AlignedCrop],
        genders: Sequence[Gender],
        strength: float | None = None,
        seeds: Sequence[int | None] | None = None,
    ) -> list[AlignedCrop]:
        """`seeds`: one per face (None: fresh), for the dp mode's noise; e.g. a track's id,
        so a face keeps the same noise from frame to frame."""
        alpha = self.default_strength if strength is None else strength
        units = [crop.landmarks / crop.image.shape[0] for crop in crops]
        pairs = zip(crops, units, strict=True)
        textures = [self.model.sample_texture(crop.image, unit) for crop, unit in pairs]
        changes_identity = self.identity.kind != "pull" or self.identity.pull > 0
        # every face's texture code in one product with the basis, when anything needs them
        codes = (
            self.model.texture_codes(np.stack(textures))
            if crops and (changes_identity or self.detail == "model")
            else None
        )
        moves = (
            self._identity_moves(codes, units, genders, alpha, seeds)
            if crops and changes_identity
            else [None] * len(crops)
        )
        changes = [
            self._face_change(unit, gender, alpha, move, self.exposure_gain(texture))
            for unit, gender, move, texture in zip(units, genders, moves, textures, strict=True)
        ]
        if self.detail == "model" and crops:
            changes = self._without_own_detail(changes, textures, codes)
        return [
            self._render(crop, unit, shape, texture)
            for crop, unit, (shape, texture) in zip(crops, units, changes, strict=True)
        ]

    def exposure_gain(self, texture: np.ndarray) -> float:
        """How much of the texture change a face takes: 1, or for a face whose skin is darker
        than EXPOSURE_REFERENCE of the model's mean face, its level over that (at least
        EXPOSURE_FLOOR). A texture change is a change of the skin's reflectance, which the
        light multiplies: added in full to a dim face (hamilton's audience, skin level 30-40
        against the model's 140) it painted a pale mask with black eye holes. Scaling every
        face darker than the mean cost privacy on CelebA's well-lit faces (README)."""
        level = float(texture[self._skin].mean())
        reference = EXPOSURE_REFERENCE * self._skin_level
        return float(np.clip(level / reference, EXPOSURE_FLOOR, 1.0))

    def _face_change(
        self,
        unit: np.ndarray,
        gender: Gender,
        alpha: float,
        pull: tuple[np.ndarray, np.ndarray] | None,
        gain: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One face's change: the gender move plus `pull` (its identity change: landmark
        displacement, texture change), the texture change scaled by `gain`; returns the
        landmark displacement (68, 2, unit coordinates) and the texture-frame change."""
        sign = 1.0 if gender is Gender.MALE else -1.0
        move = sign * alpha * self._shape_delta
        texture = self._texture_delta * (sign * alpha)
        if pull is not None:
            move = move + pull[0]
            texture = texture + pull[1]
        return move, self._paint.apply(texture * gain, gender.opposite)

    def _without_own_detail(
        self,
        changes: list[tuple[np.ndarray, np.ndarray]],
        textures: Sequence[np.ndarray],
        codes: np.ndarray,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The texture changes with each face's own residual (its texture minus what its
        texture code, a row of `codes`, describes) taken out too; all faces decoded in one
        product."""
        m = self.model
        residuals = m.texture_residuals(np.stack(textures), codes)
        return [
            (move, change - m.texture_image(residual))
            for (move, change), residual in zip(changes, residuals, strict=True)
        ]

    def _render(
        self, crop: AlignedCrop, unit: np.ndarray, move: np.ndarray, texture: np.ndarray
    ) -> AlignedCrop:
        """The crop warped onto the moved landmarks, with the texture change added."""
        size = crop.image.shape[0]
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

    def _identity_moves(
        self,
        texture_codes: np.ndarray,
        units: Sequence[np.ndarray],
        genders: Sequence[Gender],
        alpha: float,
        seeds: Sequence[int | None] | None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each face's identity change, on top of the gender move: its landmark displacement
        (68, 2, unit coordinates) and its texture-frame difference (colour neutral, like the
        gender's). `texture_codes`: every face's, found in one product with the basis; the
        moves are decoded in one more, one pass over the texture basis for the whole frame."""
        m = self.model
        ks = len(m.shape_sd)
        targets = np.array([m.target_index(gender) for gender in genders])
        codes = np.concatenate(
            [np.stack([m.shape_code(unit) for unit in units]), texture_codes], axis=1
        )
        moves = self._code_moves(codes, targets, genders, alpha, seeds)
        deltas = m.decode_texture_deltas(moves[:, ks:])
        out = []
        for move, delta in zip(moves, deltas, strict=True):
            delta = delta - np.median(delta[self._skin], axis=0)
            texture = self._own_tone_and_detail(m.texture_image(delta))
            out.append((m.decode_shape_delta(move[:ks]), texture))
        return out

    def _own_tone_and_detail(self, delta: np.ndarray) -> np.ndarray:
        """A texture-frame difference without the bands the face keeps as its own: the
        low-frequency colour of each region (`tone_sigma`) and the fine detail (`detail_sigma`);
        0 keeps a band in the difference."""
        t = self.model.texture_size
        return band_pass(
            delta, self._weight, self.model.detail_sigma * t, self.model.tone_sigma * t
        )

    def _code_moves(
        self,
        codes: np.ndarray,
        targets: np.ndarray,
        genders: Sequence[Gender],
        alpha: float,
        seeds: Sequence[int | None] | None,
    ) -> np.ndarray:
        """(n, ks+kt) code changes: the identity part replaced by the identity mode, and
        facial hair (a face turned woman) or make-up (turned man) taken off."""
        moves = self._identity_part(codes, targets, genders, alpha, seeds)
        return moves + self._take_off(codes + moves, targets)

    def _take_off(self, codes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Moves that bring each face's facial hair (new women) or make-up (new men) down to
        the level of clean faces; nothing for models without attribute directions."""
        m = self.model
        moves = np.zeros_like(codes)
        pairs = (
            (1, m.facial_hair_direction, m.facial_hair_level),
            (0, m.makeup_direction, m.makeup_level),
        )
        for target, direction, level in pairs:
            if direction.size == 0 or not m.take_off_attributes:
                continue
            unit = direction / m.code_sd
            unit = unit / np.linalg.norm(unit)
            excess = np.maximum(codes / m.code_sd @ unit - level, 0) * (targets == target)
            moves -= excess[:, None] * unit[None, :] * m.code_sd
        return moves

    def _identity_part(
        self,
        codes: np.ndarray,
        targets: np.ndarray,
        genders: Sequence[Gender],
        alpha: float,
        seeds: Sequence[int | None] | None,
    ) -> np.ndarray:
        """(n, ks+kt) code changes that replace the identity part, by the identity mode."""
        m, mode, index = self.model, self.identity, self._index
        moves = np.zeros_like(codes)
        if mode.kind == "pull":
            centres = np.concatenate([m.class_mean_shape, m.class_mean_texture], axis=1)
            moves[:, index] = mode.pull * (centres[targets] - codes)[:, index]
            return moves
        if mode.kind == "k-same":
            # the k faces of the new gender nearest the face's own identity; their mean
            # replaces it, and the gender move (added by the caller) goes on from there: the
            # face's context (hair, jaw line, neck) stays its own, and a merely average face
            # of the new gender inside it would still read as the old one
            means = self._gallery.means(codes[:, index] / self._sd, targets, mode.k)
            moves[:, index] = means * self._sd - codes[:, index]
            return moves
        rngs = [
            self._rng if seed is None else np.random.default_rng(seed)
            for seed in (seeds if seeds is not None else [None] * len(codes))
        ]
        released = dp_release(codes[:, index] / self._sd, mode.clip, mode.epsilon, rngs)
        moves[:, index] = released * self._sd - codes[:, index]
        return moves


def band_pass(image: np.ndarray, weight: np.ndarray, fine: float, coarse: float) -> np.ndarray:
    """`image` (zero outside `weight`) without detail finer than `fine` pixels and without
    variation coarser than `coarse` pixels, both Gaussian sigmas (0: keep that band); the
    coarse part is a normalised convolution over `weight`, so nothing leaks in at the edge."""
    out = image
    if fine > 0:
        out = cv2.GaussianBlur(out, (0, 0), fine)
    if coarse > 0:
        spread = np.maximum(cv2.GaussianBlur(weight, (0, 0), coarse), 1e-4)[..., None]
        low = cv2.GaussianBlur(out, (0, 0), coarse) / spread
        out = out - low * weight[..., None]
    return out.astype(np.float32)


def default_identity(model: LatentFaceModel) -> IdentityMode:
    """The identity mode the model was calibrated with."""
    return IdentityMode(
        kind=model.identity_mode,
        pull=model.identity_pull,
        k=model.identity_k,
        epsilon=model.identity_epsilon,
    )


SMOOTHING = 1 / 80  # the warp maps' Gaussian blur, as a share of the crop's side


def gaussian_taps(sigma: float) -> int:
    """The blur's kernel width: out to 3 sigma each side."""
    return 2 * math.ceil(3 * sigma) + 1


def smooth_maps(
    face: tuple[np.ndarray, np.ndarray],
    texture: tuple[np.ndarray, np.ndarray],
    inside: np.ndarray,
    origin: tuple[float, float],
    sigma: float,
    step: int = 1,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The face and texture remap maps (x, y each), Gaussian-blurred, in one pass of four
    channels. A piecewise-affine warp is continuous, but its stretch jumps from one triangle to
    the next: on a smoothly lit face, long triangle edges (eye corner to jaw) show as creases,
    and where a face's geometry departs from the mean shape the texture map squeezes a band of
    the texture frame into a thin triangle, a line across the face. Blurred, the maps keep their
    course and lose the kinks. The face map is blurred as a displacement from the identity,
    which is zero outside the triangulation (the anchor ring stays put); the texture map only
    over `inside` (1 within the triangulation: normalised convolution, nothing leaks in).
    The maps' points lie `step` pixels apart from `origin` (`warp.grid_points`); `sigma` is
    in grid points."""
    xs, ys = grid_points(inside.shape, origin, step)
    stack = np.dstack([face[0] - xs, face[1] - ys, texture[0] * inside, texture[1] * inside])
    taps = gaussian_taps(sigma)
    blur = {"ksize": (taps, taps), "sigmaX": sigma, "borderType": cv2.BORDER_CONSTANT}
    blurred = cv2.GaussianBlur(stack, **blur)
    spread = np.maximum(cv2.GaussianBlur(inside, **blur), 1e-6)
    return (
        (xs + blurred[..., 0], ys + blurred[..., 1]),
        (blurred[..., 2] / spread, blurred[..., 3] / spread),
    )


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
    ring, box = ring_box(dst, size)
    left, top, right, bottom = box
    out = image.copy()
    if right - left < 2 or bottom - top < 2:
        return out, np.zeros((size, size), np.float32)
    mask = hull_mask(ring, size, feather=0.06)
    if device is not None:
        from .render_torch import render_on

        out[top:bottom, left:right] = render_on(
            device, image, src, dst, triangles, texture_points, texture_delta, box, SMOOTHING * size
        )
        return out, mask
    (face_x, face_y), (tex_x, tex_y) = warp_maps(
        src, dst, triangles, texture_points, box, SMOOTHING * size
    )
    warped = cv2.remap(image, face_x, face_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    delta = cv2.remap(texture_delta, tex_x, tex_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out[top:bottom, left:right] = np.clip(warped + delta, 0, 255).astype(np.uint8)
    return out, mask


def ring_box(dst: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The anchor ring among `dst` control points, and the box (left, top, right, bottom) a
    render touches: the ring's pixels, within the size×size crop."""
    ring = dst[68 : 68 + len(anchor_ring(dst[:68]))]
    left, top = np.clip(np.floor(ring.min(axis=0)).astype(int), 0, size)
    right, bottom = np.clip(np.ceil(ring.max(axis=0)).astype(int) + 1, 0, size)
    return ring, (int(left), int(top), int(right), int(bottom))


def warp_maps(
    src: np.ndarray,
    dst: np.ndarray,
    triangles: np.ndarray,
    texture_points: np.ndarray,
    box: tuple[int, int, int, int],
    sigma: float,
    step: int = MAP_STEP,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The smoothed remap maps (x, y) of the `box` (left, top, right, bottom) onto the face
    (`src`) and onto the texture frame; texture maps are −1 (nothing) outside the
    triangulation. Worked out on a grid `step` pixels apart and interpolated (linearly) to
    every pixel."""
    height, width = box[3] - box[1], box[2] - box[0]
    grid, origin = map_grid(box, step)
    labels = triangle_labels((dst - origin) / step, triangles, grid)
    inside = (labels >= 0).astype(np.float32)
    inverses = dst_inverses(dst, triangles)
    face_map, texture_map = remap_grids(
        labels,
        [
            affine_maps(src, dst, triangles, inverses),
            affine_maps(texture_points, dst, triangles, inverses),
        ],
        origin,
        step,
    )
    face, texture = smooth_maps(face_map, texture_map, inside, origin, sigma / step, step)
    maps = np.dstack([*face, *texture, inside])
    if step > 1:
        maps = cv2.resize(maps, (grid[1] * step, grid[0] * step), interpolation=cv2.INTER_LINEAR)
    maps = np.moveaxis(maps[step : step + height, step : step + width], 2, 0)
    face_x, face_y, tex_x, tex_y, inside = (np.ascontiguousarray(m) for m in maps)
    outside = inside < 0.5
    tex_x[outside] = tex_y[outside] = -1.0  # no texture change outside the triangulation
    return (face_x, face_y), (tex_x, tex_y)
