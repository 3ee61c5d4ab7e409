"""The latent swapper's identity modes: class-mean pull, k-Same and ε-DP."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.align import align_face
from pipeline.errors import InputError
from pipeline.latent.identity import (
    IdentityMode,
    KSameGallery,
    choose_identity,
    dp_release,
    dp_scale,
)
from pipeline.latent.model import LatentFaceModel
from pipeline.latent.swapper import LatentSwapper
from pipeline.types import Gender

GENDERS = [Gender.MALE, Gender.FEMALE, Gender.MALE, Gender.FEMALE]


@pytest.fixture(scope="module")
def crops(synthetic_faces):
    return [align_face(f.image, f.landmarks) for f in synthetic_faces]


def test_k_same_averages_the_k_nearest_faces_of_the_target_class():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(40, 6)).astype(np.float32)
    labels = np.repeat([0, 1], 20).astype(np.int8)
    queries = rng.normal(size=(3, 6)).astype(np.float32)
    targets = np.array([1, 0, 1])
    out = KSameGallery(gallery, labels).means(queries, targets, 4)
    for query, target, mean in zip(queries, targets, out, strict=True):
        pool = gallery[labels == target]
        nearest = np.argsort(((pool - query) ** 2).sum(axis=1))[:4]
        assert np.allclose(mean, pool[nearest].mean(axis=0), atol=1e-5)
    with pytest.raises(InputError, match="fewer than k"):
        KSameGallery(gallery, labels).means(queries, targets, 21)


def test_dp_release_clips_adds_laplace_noise_of_the_stated_scale_and_rescales():
    assert dp_scale(3.0, 100, 600.0) == pytest.approx(1.0)  # Δ = 2·C·d = 600, scale Δ/ε
    codes = np.full((2, 20000), 10.0, np.float32)  # far outside the clip
    rngs = [np.random.default_rng(1), np.random.default_rng(2)]
    released = dp_release(codes, 3.0, 2 * 3.0 * 20000 / 0.5, rngs)  # scale 0.5
    unscaled = released * np.sqrt(1 + 2 * 0.5**2)  # divided by √(1 + 2b²)
    noise = unscaled - 3.0  # clipped to C = 3 first
    assert np.abs(noise.mean()) < 0.02
    assert np.abs(noise).mean() == pytest.approx(0.5, rel=0.05)  # E|Laplace(b)| = b
    again = dp_release(codes, 3.0, 2 * 3.0 * 20000 / 0.5, [np.random.default_rng(1)] * 2)
    assert np.array_equal(again[0], released[0]) and not np.array_equal(again[1], released[1])


def test_dp_release_varies_as_much_as_whitened_codes_whatever_the_budget():
    codes = np.random.default_rng(0).standard_normal((400, 200)).astype(np.float32)
    for epsilon in (100.0, 657.0, 4000.0):
        rngs = [np.random.default_rng(i) for i in range(len(codes))]
        released = dp_release(codes, 3.0, epsilon, rngs)
        assert released.var() == pytest.approx(1.0, abs=0.05)


def test_choose_identity_follows_the_options_given():
    default = IdentityMode("k-same", pull=0.6, k=5, epsilon=2000.0)
    assert choose_identity(default) == default
    assert choose_identity(default, k=9).k == 9
    assert choose_identity(default, epsilon=50.0).kind == "dp"
    assert choose_identity(default, pull=0.3) == replace(default, kind="pull", pull=0.3)
    assert choose_identity(default, kind="dp").epsilon == 2000.0
    with pytest.raises(InputError, match="--k applies"):
        choose_identity(default, kind="dp", k=3)
    with pytest.raises(InputError, match="one of"):
        choose_identity(default, k=3, epsilon=1.0)
    with pytest.raises(InputError):
        IdentityMode("average")


def test_modes_say_what_made_an_output():
    assert IdentityMode("k-same", k=7).label == "k-Same k=7"
    assert IdentityMode("dp", epsilon=500).as_report() == {
        "identity_mode": "dp",
        "label": "ε-DP ε=500",
        "epsilon": 500.0,
        "clip_sd": 3.0,
    }
    assert IdentityMode("pull", pull=0.6).as_report()["identity_pull"] == 0.6


def test_shipped_model_has_a_gallery_of_both_genders(latent_model: LatentFaceModel):
    index = latent_model.identity_index()
    assert latent_model.gallery_codes.shape[1] == len(index)
    counts = np.bincount(latent_model.gallery_labels, minlength=2)
    assert counts.min() >= 500
    # whitened codes: each coefficient about unit spread over the gallery
    assert 0.5 < float(latent_model.gallery_codes.std()) < 1.5


def test_k_same_swap_replaces_the_identity_by_the_gallery_mean(latent_model, crops):
    swapper = LatentSwapper(latent_model, identity=IdentityMode("k-same", k=4))
    m = latent_model
    codes = np.stack(
        [
            np.concatenate(
                [
                    m.shape_code(c.landmarks / c.image.shape[0]),
                    m.texture_codes(
                        m.sample_texture(c.image, c.landmarks / c.image.shape[0])[None]
                    )[0],
                ]
            )
            for c in crops
        ]
    )
    targets = np.array([m.target_index(g) for g in GENDERS])
    moves = swapper._identity_part(codes, targets, GENDERS, 1.0, None)
    index, sd = m.identity_index(), m.code_sd[m.identity_index()]
    final = (codes + moves)[:, index] / sd  # the gender move goes on from here
    for query, row, target in zip(codes[:, index] / sd, final, targets, strict=True):
        pool = m.gallery_codes[m.gallery_labels == target]
        nearest = np.argsort(((pool - query) ** 2).sum(axis=1))[:4]
        assert np.allclose(row, pool[nearest].mean(axis=0), atol=1e-3)
    # the leading (pose, mouth, lighting) components are the face's own, moved by gender only
    ks = len(m.shape_sd)
    free = np.r_[: m.pull_free_shape, ks : ks + m.pull_free_texture]
    assert np.allclose(moves[:, free], 0)
    out = swapper.swap(crops, GENDERS)
    assert all(
        np.abs(o.image.astype(int) - c.image).mean() > 1 for o, c in zip(out, crops, strict=True)
    )


def test_dp_swap_noise_is_fresh_unless_seeded(latent_model, crops):
    mode = IdentityMode("dp", epsilon=4000.0)
    fresh = LatentSwapper(latent_model, identity=mode)
    a = fresh.swap(crops[:2], GENDERS[:2])
    b = fresh.swap(crops[:2], GENDERS[:2])
    assert not np.array_equal(a[0].image, b[0].image)
    seeded = [fresh.swap(crops[:2], GENDERS[:2], seeds=[11, 12]) for _ in range(2)]
    assert np.array_equal(seeded[0][0].image, seeded[1][0].image)
    run = [
        LatentSwapper(latent_model, identity=mode, seed=5).swap(crops[:2], GENDERS[:2])
        for _ in range(2)
    ]
    assert np.array_equal(run[0][1].image, run[1][1].image)


def test_k_same_needs_a_gallery_and_old_models_load_without_one(latent_model, tmp_path):
    bare = replace(
        latent_model,
        gallery_codes=np.zeros((0, 0), np.float16),
        gallery_labels=np.zeros(0, np.int8),
    )
    with pytest.raises(InputError, match="gallery"):
        LatentSwapper(bare, identity=IdentityMode("k-same"))
    path = tmp_path / "m.npz"
    latent_model.save(path)
    loaded = LatentFaceModel.load(path)
    assert loaded.identity_mode == latent_model.identity_mode
    assert isinstance(loaded.identity_mode, str) and isinstance(loaded.identity_k, int)
    assert np.allclose(loaded.gallery_codes, latent_model.gallery_codes, atol=1e-2)
    with np.load(path) as data:
        assert data["gallery_codes"].dtype == np.float16
        old = {k: data[k] for k in data.files if not k.startswith(("gallery", "identity_"))}
    np.savez(tmp_path / "old.npz", **old)
    older = LatentFaceModel.load(tmp_path / "old.npz")
    assert len(older.gallery_labels) == 0 and older.identity_mode == "pull"


def test_shipped_gender_direction_carries_no_make_up_or_facial_hair(latent_model):
    m = latent_model
    sd = m.code_sd
    gender = np.concatenate([m.direction_shape, m.direction_texture]) / sd
    for attribute in (m.makeup_direction, m.facial_hair_direction):
        a = attribute / sd
        cosine = float(a @ gender / (np.linalg.norm(a) * np.linalg.norm(gender)))
        assert abs(cosine) < 0.05


def test_facial_hair_comes_off_faces_turned_women_and_make_up_off_faces_turned_men(latent_model):
    m = latent_model
    swapper = LatentSwapper(m, identity=IdentityMode("pull", pull=0.5))
    sd = m.code_sd
    hair = m.facial_hair_direction / sd
    hair /= np.linalg.norm(hair)
    makeup = m.makeup_direction / sd
    makeup /= np.linalg.norm(makeup)
    bearded = (m.facial_hair_level + 3.0) * hair * sd  # a full beard
    made_up = (m.makeup_level + 3.0) * makeup * sd  # heavy make-up
    codes = np.stack([bearded, bearded, made_up, made_up]).astype(np.float32)
    targets = np.array([1, 0, 0, 1])  # turned woman, man, man, woman
    moved = (codes + swapper._take_off(codes, targets)) / sd
    assert moved[0] @ hair == pytest.approx(m.facial_hair_level, abs=1e-3)  # shaved
    assert moved[1] @ hair > m.facial_hair_level + 2.5  # a man keeps his beard
    assert moved[2] @ makeup == pytest.approx(m.makeup_level, abs=1e-3)  # make-up off
    assert moved[3] @ makeup > m.makeup_level + 2.5  # a woman keeps her make-up
