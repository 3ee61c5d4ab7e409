"""`fit swapper` on a tiny synthetic data folder: writes a model and card that load and swap."""

from __future__ import annotations

import json

import numpy as np

from pipeline.align import align_face
from pipeline.latent.swapper import LatentSwapper
from pipeline.training.latent_fit import FitConfig, discriminant_direction, fit_swapper
from pipeline.types import Gender

TINY = FitConfig(
    texture_size=48,
    texture_components=6,
    context_size=24,
    context_components=4,
    alpha_grid=(0.5, 1.0),
    shape_gains=(1.0,),
    calibration_faces=3,
    identity_faces=2,
)


def test_fit_writes_a_model_that_loads_and_swaps(tiny_data, tmp_path, synthetic_faces):
    card = fit_swapper(tiny_data, tmp_path / "w", TINY, cache_dir=tmp_path / "cache", quiet=True)
    written = json.loads((tmp_path / "w" / "latent_swapper.json").read_text())
    assert written["default_strength"] in TINY.alpha_grid
    assert written["model"]["texture_components"] == 6
    assert 0 < written["model"]["shape_variance_explained"] <= 1
    assert {c["variant"].split(",")[0] for c in card["candidates"]} == {
        "class centres",
        "discriminant",
    }
    swapper = LatentSwapper.load(tmp_path / "w")
    face = synthetic_faces[0]
    crop = align_face(face.image, face.landmarks)
    out = swapper.swap([crop], [Gender.MALE])[0]
    assert out.image.shape == crop.image.shape and not np.array_equal(out.image, crop.image)


def test_fit_is_deterministic(tiny_data, tmp_path):
    for run in ("a", "b"):
        fit_swapper(tiny_data, tmp_path / run, TINY, cache_dir=tmp_path / "cache", quiet=True)
    a = np.load(tmp_path / "a" / "latent_swapper.npz")
    b = np.load(tmp_path / "b" / "latent_swapper.npz")
    for name in ("shape_basis", "texture_basis", "direction_texture"):
        assert np.allclose(a[name], b[name], atol=1e-5), name


def test_discriminant_separates_better_than_the_centres():
    """Classes apart along axis 0, plus a large nuisance shared with it on axis 1: projected
    on Fisher's normal the classes overlap less than on the class-centre difference."""
    rng = np.random.default_rng(0)
    n = 2000
    labels = np.repeat([0, 1], n)
    codes = rng.standard_normal((2 * n, 2)) * [1.0, 6.0]
    codes[:, 0] += labels * 2.0
    codes[:, 1] += codes[:, 0] * 2.0

    def accuracy(direction: np.ndarray) -> float:
        projected = codes @ direction
        threshold = (projected[labels == 0].mean() + projected[labels == 1].mean()) / 2
        return float(((projected > threshold) == labels).mean())

    centres = codes[labels == 1].mean(0) - codes[labels == 0].mean(0)
    fisher = discriminant_direction(codes, codes.std(axis=0), labels, ridge=1e-3)
    assert accuracy(fisher) > accuracy(centres) + 0.05
