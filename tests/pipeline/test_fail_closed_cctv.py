"""CCTV faces the swapper cannot take (tiny, turned away) are covered, never left raw."""

from __future__ import annotations

import numpy as np

from pipeline.facepipeline import FacePipeline, PipelineOptions
from pipeline.types import Action, Box, Detection, Gender, Verdict


def face_points(cx: float, cy: float, size: float, turned: bool = False) -> np.ndarray:
    """68 landmarks in iBUG order on a face `size` pixels wide; `turned` moves the nose to
    the left cheek, as in a profile view."""
    a = np.linspace(0, np.pi, 17)
    jaw = np.stack([-np.cos(a), 1.1 * np.sin(a)], 1)
    brows = [(x, -0.45) for x in (*np.linspace(-0.75, -0.15, 5), *np.linspace(0.15, 0.75, 5))]
    bridge = [(0.0, y) for y in np.linspace(-0.3, 0.25, 4)]
    nostrils = [(x, 0.35) for x in np.linspace(-0.2, 0.2, 5)]
    ring = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    eyes = [(c + 0.15 * np.cos(t), -0.2 + 0.06 * np.sin(t)) for c in (-0.45, 0.45) for t in ring]
    outer = np.pi - np.arange(12) * np.pi / 6
    inner = np.pi - np.arange(8) * np.pi / 4
    mouth = [(0.35 * np.cos(t), 0.65 + 0.12 * np.sin(t)) for t in outer]
    mouth += [(0.2 * np.cos(t), 0.65 + 0.05 * np.sin(t)) for t in inner]
    points = np.array([*jaw, *brows, *bridge, *nostrils, *eyes, *mouth], np.float32)
    if turned:
        points[27:36, 0] = -0.9
    return points * size / 2 + np.array([cx, cy], np.float32)


FACES = {
    "frontal": face_points(150, 120, 90),
    "tiny": face_points(330, 60, 7),
    "profile": face_points(420, 180, 80, turned=True),
}


class ListedDetector:
    def detect(self, frame):
        return [Detection(Box.around(p), 1.0) for p in FACES.values()]


class KnownLandmarker:
    def fit(self, gray, box):
        return next(p for p in FACES.values() if Box.around(p) == box)


class FixedClassifier:
    def classify(self, crops):
        return [Verdict(Gender.MALE, 0.9) for _ in crops]


class CountingSwapper:
    name = "counting"
    default_strength = 1.0

    def __init__(self) -> None:
        self.faces = 0

    def swap(self, crops, genders, strength=None, seeds=None):
        self.faces += len(crops)
        return list(crops)


def test_tiny_and_profile_faces_are_covered_while_a_frontal_face_is_swapped():
    assert len(face_points(0, 0, 1)) == 68
    frame = np.random.default_rng(0).integers(0, 256, (260, 520, 3), dtype=np.uint8)
    swapper = CountingSwapper()
    pipeline = FacePipeline(
        ListedDetector(),
        KnownLandmarker(),
        FixedClassifier(),
        swapper,
        PipelineOptions(mode="swap", identity=False),
    )
    result = pipeline.process(frame)
    outcomes = dict(zip(FACES, result.faces, strict=True))
    assert outcomes["frontal"].action is Action.SWAPPED
    assert swapper.faces == 1  # only the frontal face reached the swapper
    assert (outcomes["tiny"].action, outcomes["tiny"].reason) == (Action.BLURRED, "too small")
    assert outcomes["profile"].action is Action.BLURRED
    assert outcomes["profile"].reason == "head turned too far"
    for name in ("tiny", "profile"):
        box = Box.around(FACES[name])
        rows, cols = slice(int(box.top), int(box.bottom)), slice(int(box.left), int(box.right))
        change = np.abs(result.image[rows, cols].astype(int) - frame[rows, cols]).mean()
        assert change > 30, f"{name} face left (nearly) raw: mean change {change:.1f}"
