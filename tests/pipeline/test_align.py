import cv2
import numpy as np
import pytest

from pipeline.align import align_face, alignment_for, crop_size_for, warp_to_crop
from pipeline.landmarks import LEFT_EYE, RIGHT_EYE


def _similarity(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array(
        [
            [scale * np.cos(a), -scale * np.sin(a), shift[0]],
            [scale * np.sin(a), scale * np.cos(a), shift[1]],
        ]
    )


@pytest.mark.parametrize("scale,angle", [(1.0, 0.0), (2.2, 17.0), (0.6, -25.0), (4.0, 5.0)])
def test_canonical_eyes_do_not_depend_on_pose(latent_model, scale, angle):
    """A face moved by any similarity transform aligns to the same crop coordinates."""
    base = latent_model.mean_shape * 256
    moved = base @ _similarity(scale, angle, (0, 0))[:, :2].T + (400, 300)
    a = alignment_for(base.astype(np.float32), 256)
    b = alignment_for(moved.astype(np.float32), 256)
    assert np.allclose(a.to_crop(base), b.to_crop(moved), atol=1e-3)
    crop_points = b.to_crop(moved)
    left, right = crop_points[LEFT_EYE].mean(axis=0), crop_points[RIGHT_EYE].mean(axis=0)
    # FFHQ alignment levels the eye line corrected by the eye–mouth axis: for a near-symmetric
    # face the eyes end up level to well under a pixel
    assert abs(left[1] - right[1]) < 0.5
    assert 0.3 * 256 < left[0] < 0.5 * 256 < right[0] < 0.7 * 256


def test_forward_and_inverse_are_inverses(face_frame):
    _, landmarks = face_frame
    alignment = alignment_for(landmarks, 256)
    product = np.vstack([alignment.forward, [0, 0, 1]]) @ np.vstack([alignment.inverse, [0, 0, 1]])
    assert np.allclose(product, np.eye(3), atol=1e-9)


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_round_trip_reproduces_the_face_region(face_frame, scale):
    """Forward warp to the crop, inverse warp back: the face region comes back within a few
    grey levels (the crop resamples, so not exactly)."""
    frame, landmarks = face_frame
    frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    landmarks = landmarks * scale
    crop = align_face(frame, landmarks, 256)
    back = cv2.warpAffine(
        crop.image, crop.alignment.inverse, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR
    )
    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8)).astype(bool)
    error = np.abs(back.astype(int) - frame.astype(int))[mask]
    tolerance = 6.0 if scale >= 1 else 12.0  # an upscaled crop of a small face loses detail
    assert error.mean() < tolerance
    assert np.allclose(crop.landmarks, crop.alignment.to_crop(landmarks))


def test_large_faces_are_prefiltered(face_frame):
    """A face much larger than the crop is shrunk with area averaging, not aliased."""
    frame, landmarks = face_frame
    big = cv2.resize(frame, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    noisy = big.copy()
    noise = np.random.default_rng(0).integers(0, 2, big.shape[:2], dtype=np.uint8) * 60
    noisy[..., 1] = cv2.add(noisy[..., 1], noise)
    alignment = alignment_for(landmarks * 6, 256)
    plain = cv2.warpAffine(noisy, alignment.forward, (256, 256), flags=cv2.INTER_LINEAR)
    filtered = warp_to_crop(noisy, alignment)
    clean = warp_to_crop(big, alignment)
    # Area averaging turns fine noise into a mild, even offset; point sampling keeps it noisy.
    assert np.std(filtered[..., 1].astype(int) - clean[..., 1]) < 0.5 * np.std(
        plain[..., 1].astype(int) - clean[..., 1]
    )


@pytest.mark.parametrize("scale,expected", [(0.1, 128), (0.5, 160), (1.0, 256), (3.0, 256)])
def test_crop_size_follows_the_face_size_in_the_frame(latent_model, scale, expected):
    """The crop never needs more pixels than the face has in the frame (times 1.25)."""
    landmarks = (latent_model.mean_shape * 256 * scale).astype(np.float32)
    size = crop_size_for(landmarks)
    assert size == expected
    covered = 1.0 / alignment_for(landmarks, 1).scale
    assert size >= min(256, 1.25 * covered) and size % 32 == 0
    assert crop_size_for(landmarks, largest=512) >= size
