"""Measure a swapper the way users meet it: through the whole pipeline, on real faces.

For each held-out face: swap it in its own frame (direction from its true label), paste it back,
then ask what a viewer's tools would say of the output: does dlib still detect the face, does the
project's classifier now call it the other gender, how similar are the pixels, and does dlib's
face recogniser still match it to the original.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..align import align_face
from ..classify import GenderClassifier
from ..detect import DetectorConfig, FaceDetector
from ..facepipeline import FacePipeline, PipelineOptions
from ..landmarks import Landmarker
from ..similarity import SAME_PERSON_DISTANCE, IdentityEncoder, identity_figures
from ..swap import Swapper
from ..types import Action, Box, Face, Gender, Verdict
from .dataset import kind_of
from .facecache import CLASSES, locate_face


@dataclass(frozen=True, eq=False)
class FaceCase:
    """A labelled face located in the frame it is processed in."""

    name: str
    frame: np.ndarray
    face: Face
    gender: Gender


@dataclass
class SwapFigures:
    """What the swaps of a set of faces measured, at one strength."""

    alpha: float
    faces: int = 0
    flipped: dict = field(default_factory=lambda: {g.value: [0, 0] for g in Gender})  # [flipped, n]
    detected: int = 0  # of the faces dlib detected before the swap, how many it still finds
    detectable: int = 0
    pixel: list = field(default_factory=list)
    distances: list = field(default_factory=list)
    swap_seconds: float = 0.0

    def flip_rate(self, gender: Gender) -> float:
        flipped, n = self.flipped[gender.value]
        return flipped / n if n else float("nan")

    @property
    def detected_rate(self) -> float:
        return self.detected / self.detectable if self.detectable else float("nan")

    @property
    def unmatched_rate(self) -> float:
        """Share of faces a recogniser no longer matches to the original."""
        if not self.distances:
            return float("nan")
        return float(np.mean(np.array(self.distances) >= SAME_PERSON_DISTANCE))

    def summary(self) -> dict:
        d = np.array(self.distances)
        return {
            "alpha": self.alpha,
            "faces": self.faces,
            "flip_male_to_female_percent": round(100 * self.flip_rate(Gender.MALE), 2),
            "flip_female_to_male_percent": round(100 * self.flip_rate(Gender.FEMALE), 2),
            "still_detected_percent": round(100 * self.detected_rate, 2),
            "detectable_faces": self.detectable,
            "pixel_similarity_percent_mean": round(float(np.mean(self.pixel)), 2)
            if self.pixel
            else None,
            "identity_faces": len(d),
            "identity_distance_quartiles": [
                round(float(q), 3) for q in np.percentile(d, [25, 50, 75])
            ]
            if len(d)
            else None,
            "recogniser_no_longer_matches_percent": round(100 * self.unmatched_rate, 2)
            if len(d)
            else None,
            "swap_ms_per_face": round(1000 * self.swap_seconds / self.faces, 2)
            if self.faces
            else None,
        }


def load_cases(
    root: Path, names: np.ndarray, labels: np.ndarray, quiet: bool = False
) -> list[FaceCase]:
    """Locate each listed face in its frame, as the face cache did when it aligned it."""
    landmarker = Landmarker()
    cases = []
    for name, label in tqdm(
        list(zip(names, labels, strict=True)), desc="loading faces", disable=quiet
    ):
        image = cv2.imread(str(Path(root) / str(name)), cv2.IMREAD_COLOR)
        located = None if image is None else locate_face(image, kind_of(str(name)))
        if located is None:
            continue
        frame, box = located
        points = landmarker.fit(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), box)
        cases.append(
            FaceCase(
                str(name), frame, Face(box=box, landmarks=points, score=0.0), CLASSES[int(label)]
            )
        )
    return cases


@dataclass(frozen=True)
class KnownGender:
    """A verdict policy that swaps by the true label instead of asking the classifier."""

    gender: Gender

    def held(self, face: Face) -> Verdict:
        return Verdict(self.gender, 1.0)

    def decide(self, face: Face, found: Verdict) -> Verdict:
        return Verdict(self.gender, 1.0)


class SwapEvaluator:
    """Runs the pipeline on FaceCases with a given swapper and judges the outputs."""

    def __init__(self, classifier: GenderClassifier, swapper: Swapper) -> None:
        self.classifier = classifier
        self.swapper = swapper
        self.landmarker = Landmarker()
        self.encoder = IdentityEncoder(self.landmarker)
        self._originals: dict[str, np.ndarray] = {}
        self._detectable: dict[str, bool] = {}

    def evaluate(
        self, cases: list[FaceCase], alpha: float, identity: bool = False, quiet: bool = False
    ) -> SwapFigures:
        pipeline = FacePipeline(
            FaceDetector(),
            self.landmarker,
            self.classifier,
            self.swapper,
            PipelineOptions(mode="swap", strength=alpha, identity=False),
        )
        figures = SwapFigures(alpha=alpha)
        for case in tqdm(cases, desc=f"α={alpha:g}", disable=quiet):
            result = pipeline.process_faces(
                case.frame, [case.face], policy=KnownGender(case.gender)
            )
            outcome = result.faces[0]
            if outcome.action is not Action.SWAPPED:
                continue  # implausible landmarks: the pipeline covers these; not a swap to judge
            figures.faces += 1
            figures.swap_seconds += result.timings.get("swap", 0.0)
            figures.pixel.append(outcome.result.similarity.pixel)
            self._judge(case, result.image, figures, identity)
        return figures

    def _judge(
        self, case: FaceCase, output: np.ndarray, figures: SwapFigures, identity: bool
    ) -> None:
        box = case.face.box
        if case.name not in self._detectable:
            self._detectable[case.name] = _find(case.frame, box) is not None
        match = _find(output, box)
        if self._detectable[case.name]:
            figures.detectable += 1
            figures.detected += match is not None
        judged_box = match.box if match is not None else box
        gray = cv2.cvtColor(output, cv2.COLOR_BGR2GRAY)
        points = self.landmarker.fit(gray, judged_box)
        verdict = self.classifier.classify([align_face(output, points)])[0]
        counts = figures.flipped[case.gender.value]
        counts[0] += verdict.gender is case.gender.opposite
        counts[1] += 1
        if identity:
            before = self._originals.get(case.name)
            if before is None:
                before = self._originals[case.name] = self.encoder.descriptor(case.frame, box)
            after = self.encoder.descriptor(output, judged_box)
            figures.distances.append(identity_figures(before, after)[1])


def _find(frame: np.ndarray, box: Box):
    """dlib's detection of the face at `box` (IoU ≥ 0.3), at a scale suited to its size."""
    min_face = int(np.clip(box.width * 0.8, 20, 400))
    found = FaceDetector(DetectorConfig(min_face=min_face)).detect(frame)
    match = max(found, key=lambda d: d.box.iou(box), default=None)
    return match if match is not None and match.box.iou(box) >= 0.3 else None


def timed_swaps(swapper: Swapper, cases: list[FaceCase], alpha: float, repeats: int = 3) -> float:
    """Milliseconds per face for the swap call alone, on 256-pixel crops."""
    crops = [align_face(c.frame, c.face.landmarks) for c in cases]
    genders = [c.gender for c in cases]
    swapper.swap(crops[:4], genders[:4], alpha)
    start = time.perf_counter()
    for _ in range(repeats):
        swapper.swap(crops, genders, alpha)
    return (time.perf_counter() - start) * 1000 / (repeats * len(crops))
