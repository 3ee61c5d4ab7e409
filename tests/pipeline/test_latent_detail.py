"""The latent swapper's fine detail: only what its code describes (default), or the face's own."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from pipeline.align import align_face
from pipeline.errors import InputError
from pipeline.latent.identity import IdentityMode
from pipeline.latent.swapper import LatentSwapper
from pipeline.swap import LatentChoices, load_swapper
from pipeline.types import Gender


@pytest.fixture(scope="module")
def detailed_crop(synthetic_faces):
    """A synthetic face (the model's own, with next to no residual) given detail, blotches a
    few pixels across, that the model's components cannot describe."""
    crop = align_face(synthetic_faces[0].image, synthetic_faces[0].landmarks)
    noise = np.random.default_rng(3).normal(0, 25, crop.image.shape).astype(np.float32)
    detail = cv2.GaussianBlur(noise, (0, 0), 1.5) * 4
    return replace(crop, image=np.clip(crop.image + detail, 0, 255).astype(np.uint8))


def test_model_detail_takes_the_faces_own_residual_out(latent_model, detailed_crop):
    crop, m = detailed_crop, latent_model
    unit = crop.landmarks / crop.image.shape[0]
    texture = m.sample_texture(crop.image, unit)
    code = m.texture_codes(texture[None])
    recon = m.mean_texture + m.decode_texture_delta(code[0])
    residual = m.texture_residuals(texture[None], code)[0]
    assert np.allclose(residual, texture - recon, atol=1e-3)
    inner = m.texture_weight > 0.9

    def swapped(detail: str) -> np.ndarray:
        swapper = LatentSwapper(m, identity_pull=0.0, detail=detail)
        return swapper.swap([crop], [Gender.MALE], strength=0.0)[0].image

    own, model = swapped("own"), swapped("model")
    # own detail: at strength 0 nothing visible changes
    assert np.abs(own.astype(int) - crop.image).max() <= 2
    # the model's detail: the face's texture is what its code describes, the residual gone
    after = m.sample_texture(model, unit)
    assert np.abs(after - recon)[inner].mean() < 0.3 * np.abs(residual)[inner].mean()


def test_model_detail_goes_with_every_identity_mode(latent_model, detailed_crop):
    for identity in (IdentityMode("k-same"), IdentityMode("pull"), IdentityMode("dp")):
        swapper = LatentSwapper(latent_model, identity=identity, seed=1, detail="model")
        out = swapper.swap([detailed_crop], [Gender.FEMALE])[0]
        mine = LatentSwapper(latent_model, identity=identity, seed=1, detail="own").swap(
            [detailed_crop], [Gender.FEMALE]
        )[0]
        assert np.abs(out.image.astype(int) - mine.image).mean() > 0.5
        assert np.array_equal(out.landmarks, mine.landmarks)


def test_detail_choice_is_checked_and_reaches_the_latent_swapper_only():
    with pytest.raises(InputError, match="unknown detail"):
        LatentSwapper(LatentSwapper.load().model, detail="rendered")
    assert load_swapper("latent", None, "cpu", LatentChoices(detail="own")).detail == "own"
    assert load_swapper("latent", None, "cpu", LatentChoices()).detail == "model"
    with pytest.raises(InputError, match="--detail applies to the latent swapper only"):
        load_swapper("pix2pixhd", None, "cpu", LatentChoices(detail="model"))
