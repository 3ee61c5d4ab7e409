"""Stage 4: gender verdicts on aligned crops with the project's ResNet-18.

The network sees a window of the aligned crop: the face with its forehead, ears and hairline
(three quarters of the crop's width), not the whole head. Hair and clothes are strong cues on
real photos, but a swap changes the face, not the hair, so a verdict resting on them would
never follow a swap; the narrower face-only window (brows to chin) measured 0.8 points less
accurate on held-out CelebA (96.2 % against 97.0 %, same training).
"""

from __future__ import annotations

import copy
import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from .device import device_kind, resolve_device
from .errors import WeightsError
from .types import AlignedCrop, Gender, Verdict
from .weights import read_card

if TYPE_CHECKING:
    import torch

    from .resnet import ResNet18

log = logging.getLogger(__name__)

CARD_NAME = "gender_classifier"
CARD_KIND = "gender-classifier"
CARD_VERSION = 1
CLASSES = (Gender.MALE, Gender.FEMALE)


class Classifier(Protocol):
    """Gives each aligned face a gender and the probability of that verdict, batched."""

    def classify(self, crops: Sequence[AlignedCrop]) -> list[Verdict]: ...


@dataclass(frozen=True)
class InputSpec:
    """What the network takes: a window of the crop (fractions x0, y0, x1, y1), resized to
    height×width, RGB, normalised with mean and std."""

    window: tuple[float, float, float, float] = (0.125, 0.1, 0.875, 0.9)
    height: int = 72
    width: int = 64
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    # A window darker on average than `dim` grey levels (all but 0.5 % of the CelebA training
    # faces are brighter) is stretched to their average exposure, `exposure` (mean, sd) = that
    # of 3,000 of them, before the network sees it. Faces in a dim audience (hamilton) were
    # all called men; stretched, the four women there are called women, the men still men,
    # and held-out CelebA is as before within a face (see README). 0 turns it off.
    dim: float = 50.0
    exposure: tuple[float, float] = (113.6, 62.0)

    def pixel_window(self, crop_size: int) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = (round(f * crop_size) for f in self.window)
        return x0, y0, x1, y1

    def windows(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n, height, width, 3) BGR uint8 windows cut from square crops."""
        out = np.empty((len(images), self.height, self.width, 3), np.uint8)
        for i, image in enumerate(images):
            x0, y0, x1, y1 = self.pixel_window(image.shape[0])
            window = image[y0:y1, x0:x1]
            if window.shape[:2] != (self.height, self.width):
                window = cv2.resize(window, (self.width, self.height), interpolation=cv2.INTER_AREA)
            out[i] = self.exposed(window)
        return out

    def exposed(self, window: np.ndarray) -> np.ndarray:
        """`window` as it is, or, if dimmer than `dim`, stretched to `exposure`."""
        mean = float(window.mean())
        if mean >= self.dim:
            return window
        target_mean, target_sd = self.exposure
        gain = target_sd / max(float(window.std()), 1.0)
        stretched = (window.astype(np.float32) - mean) * gain + target_mean
        return np.clip(stretched, 0, 255).astype(np.uint8)

    def normalise(self, windows: torch.Tensor) -> torch.Tensor:
        """uint8 (n, h, w, 3) BGR → float (n, 3, h, w) RGB, normalised."""
        import torch

        x = windows.flip(-1).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        # Contiguous NCHW: strided (channels-last) input sends every convolution down a
        # slower path (measured 2-4x on the CPU).
        return ((x - mean) / std).contiguous()

    def normalise_array(self, windows: np.ndarray) -> np.ndarray:
        """`normalise` in numpy: uint8 (n, h, w, 3) BGR → float32 (n, 3, h, w) RGB."""
        x = windows[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, 3, 1, 1)
        return np.ascontiguousarray((x - mean) / std)


def verdicts(probabilities: np.ndarray) -> list[Verdict]:
    """A verdict per row of (n, 2) class probabilities."""
    return [Verdict(CLASSES[int(p.argmax())], float(p.max())) for p in probabilities]


def read_classifier_card(weights_dir: Path | None = None) -> tuple[dict, Path, InputSpec]:
    """The classifier's card, weights file and input spec; a card this faceanon cannot run
    raises `WeightsError`."""
    card, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION, weights_dir)
    if card.get("architecture") != "resnet18" or card.get("classes") != [c.value for c in CLASSES]:
        raise WeightsError(f"{CARD_NAME}.json describes a model this faceanon cannot run")
    spec = InputSpec(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in card["input"].items()}
    )
    return card, path, spec


def load_classifier(
    weights_dir: Path | None = None, device: str = "auto", threads: int | None = None
) -> Classifier:
    """The classifier for running faces through: on the CPU, ONNX Runtime without torch
    (`classify_onnx`; torch where that cannot be set up), on a GPU the torch model.
    `threads`: ONNX Runtime's threads (None: one a core)."""
    if device_kind(device) == "cpu":
        from .classify_onnx import OnnxGenderClassifier, OnnxUnavailable

        try:
            return OnnxGenderClassifier.load(weights_dir, threads)
        except OnnxUnavailable as error:
            log.info("classifier on torch: %s", error)
    return GenderClassifier.load(weights_dir, device)


def load_weights(model: ResNet18, path: Path) -> None:
    """Load a classifier weights file into `model`, in float32 (shipped files are float16); a
    file that holds no such weights raises `WeightsError`."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        )
    except (RuntimeError, OSError, ValueError, AttributeError, pickle.UnpicklingError) as error:
        raise WeightsError(f"{path.name} does not load as the classifier: {error}") from error


class GenderClassifier:
    """The trained ResNet-18, one pass a face. Averaging each face with its mirror image
    doubled the cost and did not help: 97.68 % with it, 97.73 % without, on the 2,114 aligned
    held-out CelebA faces (same weights)."""

    def __init__(self, model: ResNet18, spec: InputSpec, device: torch.device, card: dict) -> None:
        import torch

        self.model = model.to(device).eval()
        self.spec = spec
        self.device = device
        self.card = card
        # One face alone (a photo, a new track) goes through a channels-last copy on the CPU:
        # PyTorch sends a single small NCHW image down its slow im2col convolutions instead of
        # oneDNN's (measured 25 against 10 ms, one thread); from two faces on NCHW is faster.
        self._single = (
            copy.deepcopy(self.model).to(memory_format=torch.channels_last)
            if device.type == "cpu"
            else None
        )

    @classmethod
    def load(cls, weights_dir: Path | None = None, device: str = "auto") -> GenderClassifier:
        from .resnet import ResNet18

        card, path, spec = read_classifier_card(weights_dir)
        model = ResNet18(num_classes=len(CLASSES))
        load_weights(model, path)
        return cls(model, spec, resolve_device(device), card)

    def probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 2) class probabilities for square crops (any size)."""
        import torch

        if len(images) == 0:
            return np.zeros((0, len(CLASSES)), np.float32)
        windows = torch.from_numpy(self.spec.windows(images)).to(self.device)
        x = self.spec.normalise(windows)
        model = self.model
        if len(images) == 1 and self._single is not None:
            model, x = self._single, x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            logits = model(x)
        return torch.softmax(logits, dim=1).cpu().numpy()

    def classify(self, crops: Sequence[AlignedCrop]) -> list[Verdict]:
        return verdicts(self.probabilities([c.image for c in crops]))
