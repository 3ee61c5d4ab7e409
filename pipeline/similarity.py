"""Stage 7: the similarity readout — how much of the original face and identity survive.

Pixel similarity is the original study's measure: the cosine of the original and processed
aligned crops as flat vectors (pixels scaled to [-1, 1]), reported as (cos + 1) / 2 in percent.
Identity similarity compares dlib's 128-D face descriptors: their cosine in percent, and their
Euclidean distance, below 0.6 of which dlib's recogniser calls two faces the same person.
A descriptor costs 3-5 ms on this CPU (dlib's network on ONNX Runtime, `recognition`; dlib's
own code took about 90 ms), plus a landmark fit for the processed face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import cv2
import dlib
import numpy as np

from . import models
from .landmarks import Landmarker
from .recognition import FaceDescriber, face_chips
from .types import AlignedCrop, Box, Face, Similarity

SAME_PERSON_DISTANCE = 0.6


def pixel_similarity(original: np.ndarray, processed: np.ndarray) -> float:
    """(cos + 1) / 2 · 100 of two equally shaped uint8 images, pixels scaled to [-1, 1]."""
    a = original.astype(np.float32).ravel() / 127.5 - 1.0
    b = processed.astype(np.float32).ravel() / 127.5 - 1.0
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    cosine = float(a @ b) / denominator if denominator > 0 else 0.0
    return (cosine + 1.0) / 2.0 * 100.0


def identity_figures(original: np.ndarray, processed: np.ndarray) -> tuple[float, float, bool]:
    """Cosine (percent), distance and re-identification risk of two face descriptors."""
    distance = float(np.linalg.norm(original - processed))
    cosine = float(original @ processed / (np.linalg.norm(original) * np.linalg.norm(processed)))
    return cosine * 100.0, distance, distance < SAME_PERSON_DISTANCE


class IdentityEncoder:
    """dlib's 128-D face descriptor of a face in an aligned crop."""

    def __init__(self, landmarker: Landmarker | None = None) -> None:
        self._describer = models.face_describer()
        self._landmarker = landmarker or Landmarker()

    def descriptor(self, crop: np.ndarray, box: Box) -> np.ndarray:
        """Fit landmarks inside `box` afresh (as a recogniser would) and describe the face."""
        return self.descriptors([crop], box)[0]

    def descriptors(self, crops: Sequence[np.ndarray], box: Box) -> np.ndarray:
        """(n, 128): `descriptor` of each crop, their network passes batched into one."""
        chips = [
            descriptor_chip(
                crop, self._landmarker.fit(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), box), box
            )
            for crop in crops
        ]
        return self._describer.describe_chips(np.concatenate(chips))


def face_descriptor(
    encoder: FaceDescriber,
    image: np.ndarray,
    points: np.ndarray,
    box: Box | None = None,
) -> np.ndarray:
    """dlib's 128-D descriptor of the face at 68 `points` in a BGR image (`box`: the face's
    rectangle, by default the points' own)."""
    return encoder.describe_chips(descriptor_chip(image, points, box))[0]


def descriptor_chip(image: np.ndarray, points: np.ndarray, box: Box | None = None) -> np.ndarray:
    """(1, 150, 150, 3): the chip dlib describes for the face at 68 `points` in a BGR image
    (`box` as in `face_descriptor`)."""
    return face_chips(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), [dlib_shape(points, box)])


def dlib_shape(points: np.ndarray, box: Box | None = None) -> dlib.full_object_detection:
    """68 `points` and their face's `box` (by default the points' own) as dlib's shape."""
    box = box or Box.around(points)
    rect = dlib.rectangle(
        round(box.left), round(box.top), round(box.right) - 1, round(box.bottom) - 1
    )
    parts = dlib.points([dlib.point(round(float(x)), round(float(y))) for x, y in points])
    return dlib.full_object_detection(rect, parts)


def identity_readout(
    encoder: IdentityEncoder, original: np.ndarray, landmarks: np.ndarray, processed: np.ndarray
) -> tuple[float, float, bool]:
    """Identity figures (see `identity_figures`) of an aligned crop and its processed version,
    both described inside the box around the original's landmarks."""
    before, after = encoder.descriptors([original, processed], Box.around(landmarks))
    return identity_figures(before, after)


def similarity(
    original: AlignedCrop,
    processed: np.ndarray,
    encoder: IdentityEncoder | None = None,
) -> Similarity:
    """Pixel similarity always; identity figures when an encoder is given."""
    figures = Similarity(pixel=pixel_similarity(original.image, processed))
    return figures if encoder is None else with_identity(figures, encoder, original, processed)


def with_identity(
    figures: Similarity, encoder: IdentityEncoder, original: AlignedCrop, processed: np.ndarray
) -> Similarity:
    """`figures` with the identity fields of `original` against `processed`, measured now."""
    identity, distance, risk = identity_readout(
        encoder, original.image, original.landmarks, processed
    )
    return replace(figures, identity=identity, identity_distance=distance, reid_risk=risk)


class IdentityReadout(Protocol):
    """Adds identity figures to a face's pixel figures: inline (`InlineIdentity`) or in a
    worker process (`identity_worker.BackgroundIdentity`), behind one interface."""

    needs_tracks: bool  # True where figures join a track's later frame (tracking required)

    def measure(
        self,
        face: Face,
        original: AlignedCrop,
        processed: np.ndarray,
        figures: Similarity,
        wanted: bool,
    ) -> Similarity:
        """`figures`, with identity fields where a readout is ready; `wanted`: this frame
        should measure the face (a readout may start now and report later)."""
        ...

    def forget_except(self, keys: set[int]) -> None:
        """Drop what is kept for tracks other than `keys` (they are gone)."""
        ...

    def close(self) -> None: ...


class InlineIdentity:
    """Identity figures computed on the spot, for the faces that want them."""

    needs_tracks = False

    def __init__(self, encoder: IdentityEncoder) -> None:
        self.encoder = encoder

    def measure(
        self,
        face: Face,
        original: AlignedCrop,
        processed: np.ndarray,
        figures: Similarity,
        wanted: bool,
    ) -> Similarity:
        return with_identity(figures, self.encoder, original, processed) if wanted else figures

    def forget_except(self, keys: set[int]) -> None:
        """Nothing is kept between frames."""

    def close(self) -> None:
        """Nothing to stop."""
