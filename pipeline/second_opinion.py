"""A second opinion on the faces the gender classifier is unsure of: dlib's face descriptor.

dlib's 128-D descriptor was trained to tell people apart, on far more faces than the
classifier saw, and gender is one of the things it encodes: a logistic regression on it (the
"head", fitted by `faceanon fit second-opinion`) is right on 98.2 % of held-out CelebA faces
against the network's 97.7 %, and often on faces the network gets wrong. Where the network's
verdict is close to even (its log-odds under `gate`), the face is also described and the
verdict is the sign of

    network log-odds + weight × head log-odds.

A descriptor costs 3-5 ms on this CPU (`recognition`), and is computed only for the few faces
under the gate, in photos, video, the webcam and batch alike (in video, on the detection
frames whose verdicts a track votes on).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classify import Classifier
from .errors import WeightsError
from .types import AlignedCrop, Gender, Verdict
from .weights import default_weights_dir, read_card

log = logging.getLogger(__name__)

CARD_NAME = "gender_second_opinion"
CARD_KIND = "gender-descriptor-head"
CARD_VERSION = 1
DESCRIPTOR_SIZE = 128


@dataclass(frozen=True, eq=False)
class DescriptorHead:
    """Logistic regression from a standardised descriptor to the log-odds that a face is a
    man's."""

    mean: np.ndarray  # (128,)
    scale: np.ndarray  # (128,)
    weights: np.ndarray  # (128,)
    bias: float

    def logits(self, descriptors: np.ndarray) -> np.ndarray:
        """Log-odds of male for (n, 128) descriptors."""
        standard = (np.asarray(descriptors, np.float64) - self.mean) / self.scale
        return standard @ self.weights + self.bias

    def save(self, path: Path) -> None:
        """Write the head to `path` (.npz), whole or not at all."""
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, mean=self.mean, scale=self.scale, weights=self.weights, bias=self.bias)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> DescriptorHead:
        try:
            with np.load(path) as arrays:
                head = cls(
                    mean=arrays["mean"].astype(np.float64),
                    scale=arrays["scale"].astype(np.float64),
                    weights=arrays["weights"].astype(np.float64),
                    bias=float(arrays["bias"]),
                )
        except (OSError, ValueError, KeyError) as error:
            raise WeightsError(f"{path} holds no descriptor head: {error}") from error
        if not all(a.shape == (DESCRIPTOR_SIZE,) for a in (head.mean, head.scale, head.weights)):
            raise WeightsError(f"{path}: the head's arrays are not {DESCRIPTOR_SIZE} long")
        return head


@dataclass(frozen=True)
class ConsultRule:
    """When the head is asked (network log-odds under `gate`) and how much it counts."""

    gate: float
    weight: float


def male_log_odds(verdict: Verdict) -> float:
    """The log-odds of male that a verdict stands for."""
    p = min(max(verdict.confidence, 1e-6), 1.0 - 1e-6)
    odds = math.log(p / (1.0 - p))
    return odds if verdict.gender is Gender.MALE else -odds


def verdict_of(log_odds: float) -> Verdict:
    """The verdict for a log-odds of male, with its probability."""
    gender = Gender.MALE if log_odds > 0 else Gender.FEMALE
    return Verdict(gender, 1.0 / (1.0 + math.exp(-abs(log_odds))))


class SecondOpinionClassifier:
    """The network's verdicts, with the head's opinion added on faces under the gate."""

    def __init__(
        self,
        network: Classifier,
        head: DescriptorHead,
        rule: ConsultRule,
        describe: Callable[[AlignedCrop], np.ndarray] | None = None,
    ) -> None:
        self.network = network
        self.head = head
        self.rule = rule
        self._describe = describe
        self.consulted = 0  # faces the head was asked about, for benchmarks and tests

    def classify(self, crops: Sequence[AlignedCrop]) -> list[Verdict]:
        verdicts = self.network.classify(crops)
        out = []
        for crop, verdict in zip(crops, verdicts, strict=True):
            network = male_log_odds(verdict)
            if abs(network) >= self.rule.gate:
                out.append(verdict)
                continue
            descriptor = self.describe(crop)
            self.consulted += 1
            head = float(self.head.logits(descriptor[None])[0])
            out.append(verdict_of(network + self.rule.weight * head))
        return out

    def describe(self, crop: AlignedCrop) -> np.ndarray:
        if self._describe is None:  # dlib's model loads on the first face that needs it
            self._describe = crop_describer()
        return self._describe(crop)


def crop_describer() -> Callable[[AlignedCrop], np.ndarray]:
    """A function giving dlib's descriptor of an aligned face at its own landmarks (as the
    head was fitted)."""
    from . import models
    from .similarity import face_descriptor

    encoder = models.face_describer()
    return lambda crop: face_descriptor(encoder, crop.image, crop.landmarks)


def with_second_opinion(
    network: Classifier, weights_dir: Path | None = None, load_now: bool = False
) -> Classifier:
    """`network` with the head shipped beside it; the network alone where the weights folder
    has no head (e.g. a user's own classifier) or the head was fitted to other classifier
    weights (its gate and weight are calibrated to one network's odds). `load_now`: load the
    describer now rather than at the first unsure face (video: no frame waits for it)."""
    folder = Path(weights_dir) if weights_dir else default_weights_dir()
    if not (folder / f"{CARD_NAME}.json").is_file():
        log.info("second opinion off: no %s.json in %s", CARD_NAME, folder)
        return network
    card, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION, folder)
    fitted_to = card.get("classifier_sha256")
    network_card = getattr(network, "card", {})
    if fitted_to and network_card.get("sha256") not in (None, fitted_to):
        log.info("second opinion off: its head was fitted to other classifier weights")
        return network
    try:
        rule = ConsultRule(gate=float(card["rule"]["gate"]), weight=float(card["rule"]["weight"]))
    except (KeyError, TypeError, ValueError) as error:
        raise WeightsError(f"{CARD_NAME}.json has no usable rule: {error!r}") from error
    describe = crop_describer() if load_now else None
    return SecondOpinionClassifier(network, DescriptorHead.load(path), rule, describe)
