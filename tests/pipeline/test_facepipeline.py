"""The pipeline wires the stages; whatever fails, a found face is never left raw."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.classify import GenderClassifier
from pipeline.detect import FaceDetector
from pipeline.facepipeline import FacePipeline, PipelineOptions
from pipeline.landmarks import Landmarker
from pipeline.latent.swapper import LatentSwapper
from pipeline.types import Action, Box, Face, Gender, Verdict


class BrokenSwapper:
    name = "broken"
    default_strength = 1.0

    def swap(self, crops, genders, strength=None, seeds=None):
        raise RuntimeError("model exploded")


class FixedClassifier:
    def __init__(self, gender: Gender = Gender.MALE) -> None:
        self.gender = gender

    def classify(self, crops):
        return [Verdict(self.gender, 0.9) for _ in crops]


def face_region_change(before: np.ndarray, after: np.ndarray, landmarks: np.ndarray) -> float:
    box = Box.around(landmarks)
    rows = slice(int(box.top), int(box.bottom))
    cols = slice(int(box.left), int(box.right))
    return float(np.abs(after[rows, cols].astype(int) - before[rows, cols]).mean())


@pytest.fixture(scope="module")
def swapper():
    return LatentSwapper.load()


@pytest.fixture(scope="module")
def classifier():
    return GenderClassifier.load(device="cpu")


def test_swap_changes_the_face_and_reports_it(face_frame, classifier, swapper):
    frame, _ = face_frame
    pipeline = FacePipeline(
        FaceDetector(), Landmarker(), classifier, swapper, PipelineOptions(identity=False)
    )
    result = pipeline.process(frame)
    assert len(result.faces) == 1
    outcome = result.faces[0]
    assert outcome.action is Action.SWAPPED
    assert outcome.verdict is not None
    assert 50 < outcome.result.similarity.pixel < 100
    assert face_region_change(frame, result.image, outcome.face.landmarks) > 2
    assert result.image is not frame and not np.shares_memory(result.image, frame)
    assert set(result.timings) >= {"detect", "landmarks", "align", "classify", "swap", "blend"}


def test_a_failing_swapper_blurs_instead(face_frame, classifier):
    frame, _ = face_frame
    pipeline = FacePipeline(
        FaceDetector(), Landmarker(), classifier, BrokenSwapper(), PipelineOptions(identity=False)
    )
    result = pipeline.process(frame)
    assert [f.action for f in result.faces] == [Action.BLURRED]
    assert "swap failed" in result.faces[0].reason
    assert face_region_change(frame, result.image, result.faces[0].face.landmarks) > 10
    assert result.blurred == 1 and result.swapped == 0


def test_blur_mode_needs_no_models(face_frame):
    frame, _ = face_frame
    pipeline = FacePipeline(FaceDetector(), Landmarker(), None, None, PipelineOptions(mode="blur"))
    result = pipeline.process(frame)
    assert [f.action for f in result.faces] == [Action.BLURRED]
    assert result.faces[0].reason == "blur mode"


def test_implausible_faces_are_covered(face_frame, classifier, swapper):
    frame, landmarks = face_frame
    tiny = Face(
        box=Box(10, 10, 16, 16), landmarks=(landmarks - landmarks.min(0)) * 0.02 + 10, score=1.0
    )
    upside_down = Face(box=Box.around(landmarks), landmarks=landmarks[:, ::-1].copy(), score=1.0)
    pipeline = FacePipeline(
        FaceDetector(), Landmarker(), classifier, swapper, PipelineOptions(identity=False)
    )
    result = pipeline.process_faces(frame, [tiny, upside_down])
    assert [f.action for f in result.faces] == [Action.BLURRED, Action.BLURRED]
    assert result.faces[0].reason == "too small"


def test_held_verdicts_override_the_classifier(face_frame, swapper):
    frame, landmarks = face_frame
    face = Face(box=Box.around(landmarks), landmarks=landmarks, score=1.0)
    pipeline = FacePipeline(
        FaceDetector(),
        Landmarker(),
        FixedClassifier(Gender.MALE),
        swapper,
        PipelineOptions(identity=False),
    )
    result = pipeline.process_faces(frame, [face], policy=HeldFemale())
    assert result.faces[0].verdict.gender is Gender.FEMALE


class HeldFemale:
    def held(self, face):
        return Verdict(Gender.FEMALE, 1.0)

    def decide(self, face, found):
        raise AssertionError("a held verdict needs no classifier run")


def test_swap_mode_requires_models():
    with pytest.raises(ValueError):
        FacePipeline(FaceDetector(), Landmarker(), None, None, PipelineOptions(mode="swap"))
