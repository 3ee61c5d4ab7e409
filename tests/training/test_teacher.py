"""The descriptor teacher: dlib descriptors of aligned faces, cached; a logistic regression
that labels them."""

from __future__ import annotations

import numpy as np

from pipeline.align import align_face
from pipeline.training.facecache import FaceSet
from pipeline.training.teacher import DescriptorTeacher, face_descriptors


def test_logistic_teacher_separates_separable_descriptors():
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(128).astype(np.float32)
    x = rng.standard_normal((2100, 128)).astype(np.float32)
    labels = (x @ direction > 0).astype(np.int64)
    teacher = DescriptorTeacher.fit(x[:2000], labels[:2000])
    p = teacher.probabilities(x[2000:])
    assert p.shape == (100, 2) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (p.argmax(axis=1) == labels[2000:]).mean() >= 0.95
    again = DescriptorTeacher.fit(x[:2000], labels[:2000])
    assert np.allclose(again.weight, teacher.weight)  # deterministic


def test_descriptors_are_computed_once_and_cached(synthetic_faces, tmp_path):
    crops = [align_face(f.image, f.landmarks, 192) for f in synthetic_faces]
    faces = FaceSet(
        crops=np.stack([c.image for c in crops]),
        landmarks=np.stack([c.landmarks for c in crops]),
        labels=np.array([0, 1, 0, 1], np.int8),
        splits=np.array(["unlabelled"] * 4),
        names=np.array([f"celeba/images/{i}.jpg" for i in range(4)]),
    )
    first = face_descriptors(faces, tmp_path, workers=1, quiet=True)
    assert first.shape == (4, 128) and np.isfinite(first).all()
    distances = np.linalg.norm(first[:, None] - first[None], axis=2)
    assert distances[np.triu_indices(4, 1)].min() > 0.1  # four different people
    cached = list(tmp_path.glob("descriptors-*.npy"))
    assert len(cached) == 1
    np.save(cached[0], np.zeros((4, 128), np.float32))  # a second call reads the cache
    assert not face_descriptors(faces, tmp_path, workers=1, quiet=True).any()
