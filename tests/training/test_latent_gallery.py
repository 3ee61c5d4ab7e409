"""The clean gender direction and the k-Same gallery, on synthetic codes."""

from __future__ import annotations

import numpy as np

from pipeline.training.latent_gallery import (
    PhotoCodes,
    attribute_directions,
    clean_direction,
)


def _photos(n: int = 4000, dims: int = 12, seed: int = 0) -> tuple[PhotoCodes, np.ndarray]:
    """Codes where gender is axis 0, make-up (women only) axis 1 and beards (men only) axis 2,
    with make-up worn mostly by women, so a plain class difference mixes them in."""
    rng = np.random.default_rng(seed)
    sd = np.linspace(3.0, 0.5, dims)
    male = rng.random(n) < 0.45
    makeup = ~male & (rng.random(n) < 0.8)
    beard = male & (rng.random(n) < 0.5)
    white = rng.normal(size=(n, dims))
    white[:, 0] += np.where(male, -1.0, 1.0)
    white[:, 1] += 2.0 * makeup
    white[:, 2] += 2.0 * beard
    codes = (white * sd).astype(np.float32)
    photos = PhotoCodes(
        names=np.array([f"{i:06d}.jpg" for i in range(n)]),
        codes=codes,
        male=male,
        makeup=makeup,
        lipstick=makeup,
        heavy_makeup=makeup,
        facial_hair=beard,
    )
    return photos, sd


def test_clean_direction_has_no_make_up_or_beard_in_it():
    photos, sd = _photos()
    white = photos.codes / sd
    naive = white[~photos.male].mean(axis=0) - white[photos.male].mean(axis=0)
    assert abs(naive[1]) > 1.0 and abs(naive[2]) > 0.5  # the class difference is entangled
    attributes = attribute_directions(photos, sd)
    direction, facts = clean_direction(photos, sd, attributes)
    clean = direction / sd
    for attribute in attributes.values():
        assert abs(attribute @ clean) < 1e-4 * np.linalg.norm(attribute) * np.linalg.norm(clean)
    unit = clean / np.linalg.norm(clean)
    assert unit[0] > 0.95  # what is left is the gender axis, pointing male → female
    assert facts["clean_women"] == int((~photos.male & ~photos.makeup).sum())
    assert facts["clean_men"] == int((photos.male & ~photos.facial_hair).sum())


def test_clean_faces_are_make_up_free_women_and_clean_shaven_men():
    photos, _ = _photos()
    clean = photos.clean
    assert not (clean & photos.makeup).any() and not (clean & photos.facial_hair).any()
    assert (clean & photos.male).sum() > 500 and (clean & ~photos.male).sum() > 200
