import numpy as np
import pytest

from pipeline.align import align_face
from pipeline.blend import frame_region, hull_mask, match_colour, paste_back


def test_hull_mask_stays_inside_the_hull():
    points = np.array([[64, 64], [192, 64], [192, 192], [64, 192]], np.float32)
    mask = hull_mask(points, 256, feather=0.1)
    assert mask.dtype == np.float32 and mask.max() == pytest.approx(1.0, abs=1e-5)
    assert mask[:63].max() == 0 and mask[:, 194:].max() == 0  # nothing outside the square
    assert mask[128, 128] == pytest.approx(1.0, abs=1e-5)
    assert 0 < mask[128, 66] < 1  # the fade is inside the edge


def test_paste_back_leaves_pixels_outside_the_mask_untouched(face_frame):
    frame, landmarks = face_frame
    crop = align_face(frame, landmarks, 256)
    processed = 255 - crop.image  # as different as can be
    mask = hull_mask(crop.landmarks, 256)
    out = paste_back(frame.copy(), processed, crop.image, crop.alignment, mask)
    changed = np.any(out != frame, axis=2)
    # Every changed pixel lies where the mask, warped into the frame, is non-zero.
    import cv2

    support = (
        cv2.warpAffine(
            mask, crop.alignment.inverse, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR
        )
        > 0
    )
    assert changed.any()
    assert not (changed & ~support).any()
    region = frame_region(crop.alignment, mask, frame.shape)
    assert region is not None
    outside = np.ones(frame.shape[:2], bool)
    outside[int(region.top) : int(region.bottom), int(region.left) : int(region.right)] = False
    assert np.array_equal(out[outside], frame[outside])


def test_colour_match_removes_a_uniform_tint():
    rng = np.random.default_rng(0)
    original = rng.integers(60, 190, (64, 64, 3)).astype(np.uint8)
    tint = np.array([30, -20, 10])
    tinted = np.clip(original.astype(int) + tint, 0, 255).astype(np.uint8)
    mask = np.ones((64, 64), np.float32)
    fixed = match_colour(tinted, original, mask)
    assert np.abs(fixed.astype(int) - original).mean() < 1.0
    assert np.array_equal(match_colour(tinted, original, np.zeros_like(mask)), tinted)
