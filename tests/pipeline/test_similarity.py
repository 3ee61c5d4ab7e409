import numpy as np
import pytest

from pipeline.align import align_face
from pipeline.similarity import IdentityEncoder, identity_figures, pixel_similarity, similarity
from pipeline.types import Box


def test_pixel_similarity_bounds():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    assert pixel_similarity(image, image) == pytest.approx(100.0)
    assert pixel_similarity(image, 255 - image) == pytest.approx(0.0, abs=1e-3)
    other = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    assert 40 < pixel_similarity(image, other) < 60  # independent noise: cosine near 0


def test_identity_figures():
    a = np.zeros(128)
    a[0] = 1.0
    b = a.copy()
    assert identity_figures(a, b) == (pytest.approx(100.0), 0.0, True)
    c = np.zeros(128)
    c[1] = 1.0
    cosine, distance, risk = identity_figures(a, c)
    assert cosine == pytest.approx(0.0) and distance == pytest.approx(np.sqrt(2)) and not risk


def test_identity_of_a_face_with_itself(face_frame):
    frame, landmarks = face_frame
    crop = align_face(frame, landmarks)
    figures = similarity(crop, crop.image, IdentityEncoder())
    assert figures.pixel == pytest.approx(100.0)
    assert figures.identity_distance == pytest.approx(0.0, abs=1e-6)
    assert figures.reid_risk is True
    assert similarity(crop, crop.image).identity is None


def test_a_readout_describes_both_crops_in_one_batch_as_one_by_one(face_frame):
    frame, landmarks = face_frame
    crop = align_face(frame, landmarks)
    darker = (crop.image * 0.7).astype(np.uint8)
    encoder = IdentityEncoder()
    box = Box.around(crop.landmarks)
    both = encoder.descriptors([crop.image, darker], box)
    alone = np.stack([encoder.descriptor(crop.image, box), encoder.descriptor(darker, box)])
    assert both.shape == (2, 128)
    assert np.abs(both - alone).max() < 1e-5
    assert np.linalg.norm(both[0] - both[1]) > 1e-3  # two different inputs, two descriptors
