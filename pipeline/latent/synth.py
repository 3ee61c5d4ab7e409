"""New faces drawn from the latent model: shape, face texture and surroundings sampled from the
fitted distributions around a gender's class centre, rendered on a plain background.

These are the project's own synthetic people: the samples, demo clips and test fixtures are
made from them, so nothing the project ships shows a real person.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Gender
from .model import LatentFaceModel, control_points
from .warp import warp

BACKGROUND = (200, 200, 200)  # BGR, a plain light grey


@dataclass(frozen=True, eq=False)
class SyntheticFace:
    """A rendered face on a size×size canvas, aligned like a crop, with its landmarks."""

    image: np.ndarray
    landmarks: np.ndarray  # (68, 2) pixels
    gender: Gender


def sample_face(
    model: LatentFaceModel,
    rng: np.random.Generator,
    gender: Gender | None = None,
    size: int = 256,
    temperature: float = 0.7,
    background: tuple[int, int, int] = BACKGROUND,
) -> SyntheticFace:
    """Draw one face. `temperature` scales the spread around the class centre (1: the data's)."""
    gender = gender or (Gender.MALE if rng.random() < 0.5 else Gender.FEMALE)
    g = [Gender.MALE, Gender.FEMALE].index(gender)

    def draw(centre: np.ndarray, sd: np.ndarray) -> np.ndarray:
        return centre + np.clip(rng.standard_normal(len(sd)), -2.0, 2.0) * sd * temperature

    shape = model.mean_shape + model.decode_shape_delta(
        draw(model.class_mean_shape[g], model.shape_sd)
    )
    texture = model.mean_texture + model.decode_texture_delta(
        draw(model.class_mean_texture[g], model.texture_sd)
    )
    context_code = draw(model.class_mean_context[g], model.context_sd)
    c, t = model.context_size, model.texture_size
    context = (model.context_mean + context_code @ model.context_basis).reshape(c, c, 3)
    frame = cv2.resize(
        np.clip(context, 0, 255).astype(np.float32), (t, t), interpolation=cv2.INTER_CUBIC
    )
    face = model.texture_image(texture, weighted=False)
    weight = model.texture_image(np.ones((len(model.texture_pixels), 1), np.float32))[..., :1]
    frame = frame * (1 - weight) + face * weight
    frame = _plain_background(frame, model, background)
    src = model.texture_points()
    dst = control_points(shape, shape, size)
    image = warp(
        np.clip(frame, 0, 255).astype(np.uint8),
        src,
        dst,
        model.triangles,
        (size, size),
        interpolation=cv2.INTER_CUBIC,
    )
    return SyntheticFace(image=image, landmarks=(shape * size).astype(np.float32), gender=gender)


def _plain_background(
    frame: np.ndarray, model: LatentFaceModel, colour: tuple[int, int, int]
) -> np.ndarray:
    """Keep a head-and-shoulders region around the mean face; fill the rest with `colour`."""
    t = frame.shape[0]
    mean = model.mean_shape * t
    centre = mean[27:36].mean(axis=0)
    width = mean[16, 0] - mean[0, 0]
    keep = np.zeros((t, t), np.float32)
    head = (int(centre[0]), int(centre[1] - 0.25 * width))
    cv2.ellipse(keep, head, (int(0.78 * width), int(1.05 * width)), 0, 0, 360, 1.0, -1)
    neck_top = int(mean[8, 1] - 0.1 * width)
    cv2.rectangle(
        keep, (int(centre[0] - 0.45 * width), neck_top), (int(centre[0] + 0.45 * width), t), 1.0, -1
    )
    keep = cv2.GaussianBlur(keep, (0, 0), 0.05 * width)
    # Fade out towards the frame's border, so a head taller than the frame shows no cut edge.
    ramp = np.clip(np.minimum(np.arange(t), np.arange(t)[::-1]) / (0.1 * t), 0.0, 1.0)
    keep *= np.minimum.outer(ramp, ramp) ** 2
    keep = keep[..., None]
    return frame * keep + np.array(colour, np.float32) * (1 - keep)
