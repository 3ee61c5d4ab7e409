"""The paint guard: regions a swap must not darken, the cap, and the benchmark's measure."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.align import align_face
from pipeline.latent.paint_guard import PaintGuard, paint_change, paint_regions
from pipeline.latent.swapper import LatentSwapper
from pipeline.types import Gender

SIZE = 128


@pytest.fixture(scope="module")
def points(latent_model) -> np.ndarray:
    return latent_model.mean_shape * SIZE


def _at(mask: np.ndarray, point: np.ndarray) -> float:
    x, y = np.round(point).astype(int)
    return float(mask[y, x])


def test_regions_cover_the_eyes_for_a_new_woman_and_the_beard_for_a_new_man(points):
    regions = paint_regions(points, (SIZE, SIZE))
    eyes, beard = regions[Gender.FEMALE], regions[Gender.MALE]
    eye_centre = points[36:42].mean(axis=0)
    chin, lips, nose_tip = points[8] - (0, 3), points[48:60].mean(axis=0), points[30]
    assert _at(eyes, eye_centre) > 0.9 and _at(eyes, chin) < 0.01
    assert _at(beard, chin) > 0.9 and _at(beard, eye_centre) < 0.01
    assert _at(beard, lips) < 0.1  # the lips are not stubble
    assert _at(eyes, nose_tip) < 0.01 and _at(beard, nose_tip) < 0.1  # its feathered edge


def test_the_guard_caps_darkening_in_the_region_only(points):
    guard = PaintGuard(points, SIZE, limit=3.0)
    change = np.full((SIZE, SIZE, 3), -20.0, np.float32)
    capped = guard.apply(change, Gender.FEMALE)
    region = guard.regions[Gender.FEMALE]
    core, outside = region > 0.99, region < 1e-6
    assert np.allclose(capped[core], -3.0, atol=0.2)  # darkened by the limit at most
    assert np.allclose(capped[outside], change[outside], atol=1e-4)  # elsewhere untouched
    lighter = np.full((SIZE, SIZE, 3), 20.0, np.float32)
    assert np.array_equal(guard.apply(lighter, Gender.MALE), lighter)  # taking off passes
    free = PaintGuard(points, SIZE, limit=float("inf"))
    assert free.apply(change, Gender.MALE) is change


def test_paint_change_measures_darkening_per_region(points):
    before = np.full((SIZE, SIZE, 3), 150, np.uint8)
    after = before.copy()
    below_nose = int(points[33, 1]) + 2
    after[below_nose:] -= 12  # a painted lower face
    change = paint_change(before, after, points)
    assert change[Gender.MALE] < -8
    assert change[Gender.FEMALE] == pytest.approx(0.0, abs=1e-6)


def test_a_swap_with_a_paint_limit_darkens_the_regions_less(latent_model, synthetic_faces):
    crops = [align_face(f.image, f.landmarks) for f in synthetic_faces]
    genders = [Gender.MALE, Gender.FEMALE] * (len(crops) // 2)
    crops = crops[: len(genders)]
    free, limited = (LatentSwapper(latent_model, paint_limit=v) for v in (np.inf, 0.0))
    for crop, gender, a, b in zip(
        crops, genders, free.swap(crops, genders), limited.swap(crops, genders), strict=True
    ):
        region = gender.opposite
        unlimited, capped = (
            paint_change(crop.image, o.image, crop.landmarks)[region] for o in (a, b)
        )
        # the warp still moves the face's own pixels, so the cap is on the painted change only
        assert capped > unlimited + 2 and capped > -4
