"""The latent face model and its swapper: geometry, direction, locality, determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from pipeline.align import align_face
from pipeline.blend import hull_mask
from pipeline.classify import GenderClassifier
from pipeline.detect import FaceDetector
from pipeline.latent.model import LatentFaceModel, anchor_ring, control_points
from pipeline.latent.swapper import (
    SMOOTHING,
    LatentSwapper,
    default_identity,
    render,
    ring_box,
    smooth_maps,
    warp_maps,
)
from pipeline.latent.synth import sample_face
from pipeline.latent.warp import MAP_STEP
from pipeline.types import Gender


@pytest.fixture(scope="module")
def swapper() -> LatentSwapper:
    return LatentSwapper.load()


@pytest.fixture(scope="module")
def gender_only(latent_model) -> LatentSwapper:
    """The swap without the identity pull, the face keeping its own detail: the gender
    direction alone."""
    return LatentSwapper(latent_model, identity_pull=0.0, detail="own")


@pytest.fixture(scope="module")
def crops(synthetic_faces):
    return [align_face(f.image, f.landmarks) for f in synthetic_faces]


def test_model_is_consistent(latent_model: LatentFaceModel):
    ks, kt = len(latent_model.shape_sd), len(latent_model.texture_sd)
    assert latent_model.shape_basis.shape == (ks, 136)
    assert latent_model.texture_basis.shape == (kt, 3 * len(latent_model.texture_pixels))
    gram = latent_model.shape_basis @ latent_model.shape_basis.T
    assert np.allclose(gram, np.eye(ks), atol=1e-3)
    assert np.all(np.diff(latent_model.shape_sd) <= 1e-6)  # components by decreasing variance
    assert latent_model.default_strength > 0
    # the mean face sits in the middle of the unit crop, eyes above mouth
    eyes = latent_model.mean_shape[36:48, 1].mean()
    assert 0.3 < eyes < latent_model.mean_shape[48:68, 1].mean() < 0.8


def test_swap_keeps_size_alignment_and_touches_only_the_face(swapper, crops):
    out = swapper.swap(crops, [Gender.MALE, Gender.FEMALE, Gender.MALE, Gender.FEMALE])
    for before, after in zip(crops, out, strict=True):
        assert after.image.shape == before.image.shape and after.alignment is before.alignment
        ring = anchor_ring(before.landmarks)
        left, top = np.floor(ring.min(axis=0)).astype(int)
        right, bottom = np.ceil(ring.max(axis=0)).astype(int) + 1
        outside = np.ones(before.image.shape[:2], bool)
        outside[max(top, 0) : bottom, max(left, 0) : right] = False
        assert np.array_equal(after.image[outside], before.image[outside])
        assert after.mask.shape == before.image.shape[:2]
        assert np.all(after.mask[outside] == 0) and after.mask.max() == pytest.approx(1.0)
        assert np.abs(after.image.astype(int) - before.image).mean() > 1.0


def test_strength_zero_changes_nothing_visible(gender_only, crops):
    out = gender_only.swap(crops[:1], [Gender.MALE], strength=0.0)[0]
    assert np.abs(out.image.astype(int) - crops[0].image).max() <= 2
    assert np.allclose(out.landmarks, crops[0].landmarks, atol=1e-3)


def test_directions_are_opposite(gender_only, crops):
    crop = crops[0]
    to_female = gender_only.swap([crop], [Gender.MALE], 1.0)[0].landmarks - crop.landmarks
    to_male = gender_only.swap([crop], [Gender.FEMALE], 1.0)[0].landmarks - crop.landmarks
    assert np.abs(to_female).max() > 0.1
    assert np.allclose(to_female, -to_male, atol=1e-3)


def test_swap_is_deterministic_and_batch_independent(swapper, crops):
    genders = [Gender.MALE, Gender.FEMALE, Gender.MALE, Gender.FEMALE]
    together = swapper.swap(crops, genders)
    again = swapper.swap(crops, genders)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(together, again, strict=True))
    alone = [swapper.swap([c], [g])[0] for c, g in zip(crops, genders, strict=True)]
    for a, b in zip(together, alone, strict=True):
        # One BLAS product for the frame sums in another order than one per face: a
        # rounding step on the odd pixel, never a face leaking into another.
        difference = np.abs(a.image.astype(int) - b.image)
        assert difference.max() <= 1 and np.count_nonzero(difference) <= 10
        assert np.array_equal(a.mask, b.mask)


def test_default_strength_flips_the_classifier(swapper, crops, synthetic_faces):
    classifier = GenderClassifier.load(device="cpu")
    genders = [f.gender for f in synthetic_faces]
    swapped = swapper.swap(crops, genders)
    verdicts = classifier.classify(swapped)
    assert [v.gender for v in verdicts] == [g.opposite for g in genders]


def test_identity_pull_moves_the_shape_towards_the_new_class_centre(latent_model, crops):
    """At α = 0 the pull alone acts: every shape component but the free ones (pose, mouth)
    moves the pull's share of the way to the target centre; the free ones stay (facial hair
    and make-up are left on here: taking them off is tested in test_latent_identity)."""
    pull = 0.4
    crop, size = crops[0], crops[0].image.shape[0]
    model = replace(latent_model, take_off_attributes=False)
    out = LatentSwapper(model, identity_pull=pull).swap([crop], [Gender.MALE], 0.0)[0]
    before = latent_model.shape_code(crop.landmarks / size)
    after = latent_model.shape_code(out.landmarks / size)
    target = latent_model.class_mean_shape[latent_model.target_index(Gender.MALE)]
    free = latent_model.pull_free_shape
    assert free > 0
    assert np.allclose(after[:free], before[:free], atol=1e-4)
    assert np.allclose(after[free:], before[free:] + pull * (target - before)[free:], atol=1e-4)


def test_identity_pull_changes_features_not_skin_tone(latent_model, crops):
    crop = crops[1]
    out = LatentSwapper(latent_model, identity_pull=0.6).swap([crop], [Gender.FEMALE], 0.0)[0]
    face = out.mask > 0.9
    change = out.image[face].astype(float) - crop.image[face]
    assert np.abs(change).mean() > 2.0  # features moved
    assert np.all(np.abs(np.median(change, axis=0)) <= 2.0)  # no tint, no lightening


def test_identity_pull_is_the_model_default_and_old_models_load_without_it(latent_model, tmp_path):
    swapper = LatentSwapper(latent_model)
    assert swapper.identity == default_identity(latent_model)
    assert swapper.identity.kind == latent_model.identity_mode
    pulled = replace(latent_model, identity_mode="pull")
    assert LatentSwapper(pulled).identity_pull == latent_model.identity_pull
    assert 0 <= latent_model.identity_pull <= 1
    path = tmp_path / "model.npz"
    latent_model.save(path)
    with np.load(path) as data:
        older = {k: data[k] for k in data.files if not k.startswith(("identity", "pull"))}
    np.savez(path, **older)
    loaded = LatentFaceModel.load(path)
    assert loaded.identity_pull == 0.0 and loaded.pull_free_texture == 5


def test_texture_sampling_matches_the_full_warp(latent_model, crops):
    from pipeline.latent.model import control_points
    from pipeline.latent.warp import warp

    crop, t = crops[2], latent_model.texture_size
    unit = crop.landmarks / crop.image.shape[0]
    src = control_points(unit, unit, crop.image.shape[0])
    frame = warp(crop.image, src, latent_model.texture_points(), latent_model.triangles, (t, t))
    expected = frame.reshape(-1, 3)[latent_model.texture_pixels].astype(np.float32)
    sampled = latent_model.sample_texture(crop.image, unit)
    assert np.abs(sampled - expected).max() <= 1.0 and np.abs(sampled - expected).mean() < 0.01


def test_synthetic_faces_are_detected_and_reproducible(latent_model):
    detector = FaceDetector()
    for seed in range(4):
        face = sample_face(latent_model, np.random.default_rng(seed), size=256)
        again = sample_face(latent_model, np.random.default_rng(seed), size=256)
        assert np.array_equal(face.image, again.image)
        assert len(detector.detect(face.image)) == 1, f"seed {seed}: not detected"


def test_the_warp_leaves_no_crease_on_a_smooth_ramp(gender_only, synthetic_faces):
    """A piecewise-affine warp stretches each triangle its own way; unsmoothed, a brightness
    ramp warped by a strong swap shows creases along long triangle edges (second differences
    of 11-13 grey levels on two of these faces), smoothed only rounding (≤ 3)."""
    model = gender_only.model
    ramp = np.linspace(0, 255, 256, dtype=np.float32)[:, None, None]
    ramp = np.broadcast_to(ramp, (256, 256, 3)).astype(np.uint8)
    no_texture = np.zeros((model.texture_size, model.texture_size, 3), np.float32)
    for face in synthetic_faces:
        unit = align_face(face.image, face.landmarks).landmarks / 256
        sign = 1.0 if face.gender is Gender.MALE else -1.0
        moved = unit + sign * 2.0 * gender_only._shape_delta
        out, _ = render(
            ramp,
            control_points(unit, unit, 256),
            control_points(moved, unit, 256),
            model.triangles,
            model.texture_points(),
            no_texture,
        )
        rows = out[..., 0].astype(int)
        assert np.abs(rows[2:] - 2 * rows[1:-1] + rows[:-2]).max() <= 4


def test_smoothing_takes_no_texture_from_outside_and_keeps_the_identity():
    inside = np.zeros((40, 50), np.float32)
    inside[10:30, 10:30] = 1.0
    xs, ys = np.meshgrid(np.arange(50, dtype=np.float32) + 7, np.arange(40, dtype=np.float32) + 3)
    texture = np.where(inside > 0, 5.0, 1000.0).astype(np.float32)
    face, (tex_x, tex_y) = smooth_maps((xs, ys), (texture, texture), inside, (7, 3), sigma=3.0)
    assert np.allclose(face[0], xs, atol=1e-4) and np.allclose(face[1], ys, atol=1e-4)
    assert np.allclose(tex_x[inside > 0], 5.0, atol=1e-3) and np.allclose(tex_y, tex_x)


def test_smoothing_rounds_off_a_sharp_displacement_and_fixes_the_outside():
    xs, ys = np.meshgrid(np.arange(50, dtype=np.float32) + 7, np.arange(40, dtype=np.float32) + 3)
    moved = xs.copy()
    moved[15:25, 20:30] += 4.0  # a block pushed right, with sharp edges
    inside = np.ones_like(xs)
    (smooth_x, _), _ = smooth_maps((moved, ys), (xs, ys), inside, (7, 3), sigma=3.0)
    assert np.abs(np.diff(smooth_x - xs, axis=1)).max() < 1.0  # the edges are gone
    assert np.allclose(smooth_x[:, :3], xs[:, :3], atol=0.05)  # far from it, nothing moves


def _torch_and_opencv(swapper: LatentSwapper, device: torch.device, crops, genders):
    on_torch = LatentSwapper(swapper.model, swapper.card, None, render_device=device)
    return on_torch.swap(crops, genders), swapper.swap(crops, genders)


def test_the_torch_render_matches_the_opencv_one(swapper, crops, synthetic_faces):
    assert swapper.render_device is None  # loaded for the CPU: OpenCV renders
    genders = [f.gender for f in synthetic_faces]
    for a, b in zip(*_torch_and_opencv(swapper, torch.device("cpu"), crops, genders), strict=True):
        assert np.array_equal(a.mask, b.mask) and np.allclose(a.landmarks, b.landmarks)
        difference = np.abs(a.image.astype(int) - b.image)
        # rounding everywhere; more only where rasteriser and barycentric test disagree on
        # which triangle an edge point of the maps' grid belongs to (each point stands for a
        # MAP_STEP × MAP_STEP block of pixels)
        off_pixels = np.count_nonzero(difference.max(axis=2) > 2)
        assert difference.mean() < 0.08 and off_pixels <= 0.005 * difference[..., 0].size
        assert difference.max() <= 16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_swap_renders_on_the_gpu_when_there_is_one(crops, synthetic_faces):
    on_gpu = LatentSwapper.load(device="auto")
    assert on_gpu.render_device is not None and on_gpu.render_device.type == "cuda"
    genders = [f.gender for f in synthetic_faces]
    for a, b in zip(*_torch_and_opencv(on_gpu, torch.device("cpu"), crops, genders), strict=True):
        difference = np.abs(a.image.astype(int) - b.image)  # the same code, two devices
        off_pixels = np.count_nonzero(difference.max(axis=2) > 2)
        assert difference.mean() < 0.02 and off_pixels <= 0.001 * difference[..., 0].size


@pytest.mark.parametrize("face", [0, 1])
def test_a_dim_face_takes_a_texture_change_in_proportion(swapper, crops, synthetic_faces, face):
    """A texture change is one of reflectance, which the light multiplies: on a face at a fifth
    of its light the swap changes the face about as much, relative to its brightness, as on the
    lit one (added in full, it had changed it 2.2-2.6 times as much: a pale mask with black eye
    holes on a dim stage audience); and a lit face takes the change in full."""
    from dataclasses import replace

    crop, gender = crops[face], synthetic_faces[face].gender

    def relative_change(image: np.ndarray) -> float:
        out = swapper.swap([replace(crop, image=image)], [gender])[0]
        inside = out.mask > 0.5
        change = np.abs(out.image.astype(float) - image)[inside].mean()
        return float(change / image[inside].mean())

    lit = crop.image
    dim = (crop.image * 0.2).astype(np.uint8)
    assert relative_change(dim) < 1.9 * relative_change(lit)
    texture = swapper.model.sample_texture(lit, crop.landmarks / lit.shape[0])
    assert swapper.exposure_gain(texture) == 1.0


def test_maps_from_the_coarser_grid_keep_within_a_fraction_of_a_pixel(swapper, crops):
    model = swapper.model
    move = 1.75 * model.shape_gain * model.decode_shape_delta(model.direction_shape)
    for crop in crops:
        size = crop.image.shape[0]
        unit = crop.landmarks / size
        src = control_points(unit, unit, size)
        dst = control_points(unit + move, unit, size)
        ring, box = ring_box(dst, size)
        left, top, right, bottom = box
        args = (src, dst, model.triangles, model.texture_points(), box, SMOOTHING * size)
        fine, coarse = warp_maps(*args, step=1), warp_maps(*args, step=MAP_STEP)
        face = hull_mask(ring, size)[top:bottom, left:right] > 0  # what the blend shows
        for fine_map, coarse_map in zip(fine, coarse, strict=True):
            for a, b in zip(fine_map, coarse_map, strict=True):
                assert a.shape == b.shape == face.shape
                error = np.abs(a - b)[face]
                # pixels of the crop (face maps) or of the texture frame (texture maps)
                assert error.max() < 1.0 and np.percentile(error, 99) < 0.25
                assert error.mean() < 0.02
