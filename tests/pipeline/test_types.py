import numpy as np
import pytest

from pipeline.types import Alignment, Box, Gender


def test_box_geometry():
    box = Box(10, 20, 50, 100)
    assert (box.width, box.height, box.area) == (40, 80, 3200)
    assert box.center == (30, 60)
    assert box.scaled(0.5) == Box(5, 10, 25, 50)
    grown = box.expanded(2.0)
    assert grown.center == box.center and grown.width == 80 and grown.height == 160


def test_box_iou():
    a = Box(0, 0, 10, 10)
    assert a.iou(a) == 1.0
    assert a.iou(Box(20, 20, 30, 30)) == 0.0
    assert a.iou(Box(5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_box_around_points():
    assert Box.around(np.array([[3, 4], [1, 9], [7, 2]])) == Box(1, 2, 7, 9)


def test_gender_opposite():
    assert Gender.MALE.opposite is Gender.FEMALE
    assert Gender.FEMALE.opposite is Gender.MALE


def test_alignment_maps_points_both_ways():
    forward = np.array([[0.5, 0.1, 3.0], [-0.1, 0.5, 7.0]])
    import cv2

    alignment = Alignment(64, forward, cv2.invertAffineTransform(forward))
    points = np.array([[10.0, 20.0], [30.0, 5.0]], np.float32)
    assert np.allclose(alignment.to_frame(alignment.to_crop(points)), points, atol=1e-4)
    assert alignment.scale == pytest.approx(np.hypot(0.5, 0.1))
