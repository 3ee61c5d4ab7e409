"""The alternative swap backend: pix2pixHD "global" generators, one per direction.

`GlobalGenerator` reproduces the module layout of pix2pixHD's global generator, so the
published gender-swap checkpoints of "StyleGAN2 Distillation for Feed-forward Image
Manipulation" (`to_female_net_G.pth`, `to_male_net_G.pth`: ngf 64, 4 downsamplings, 9 residual
blocks, instance norm, RGB in [-1, 1] at 512×512 FFHQ alignment) load key for key. A folder may
hold a `pix2pixhd.json` with other settings (ngf, n_downsample, n_blocks, size) for smaller
generators trained with the same class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from .device import resolve_device
from .errors import WeightsError
from .types import AlignedCrop, Gender

CHECKPOINTS = {Gender.MALE: "to_female_net_G.pth", Gender.FEMALE: "to_male_net_G.pth"}
SETTINGS_FILE = "pix2pixhd.json"


@dataclass(frozen=True)
class GeneratorSettings:
    ngf: int = 64
    n_downsample: int = 4
    n_blocks: int = 9
    size: int = 512  # the square FFHQ-aligned input the generator was trained on


class ResnetBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class GlobalGenerator(nn.Module):
    """pix2pixHD's global generator: 7×7 stem, strided downsampling, residual blocks,
    transposed-convolution upsampling, 7×7 head with tanh."""

    def __init__(
        self,
        settings: GeneratorSettings = GeneratorSettings(),
        input_nc: int = 3,
        output_nc: int = 3,
    ) -> None:
        super().__init__()
        ngf = settings.ngf
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        for i in range(settings.n_downsample):
            channels = ngf * 2**i
            layers += [
                nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1),
                nn.InstanceNorm2d(channels * 2),
                nn.ReLU(True),
            ]
        width = ngf * 2**settings.n_downsample
        layers += [ResnetBlock(width) for _ in range(settings.n_blocks)]
        for i in range(settings.n_downsample):
            channels = ngf * 2 ** (settings.n_downsample - i)
            layers += [
                nn.ConvTranspose2d(
                    channels, channels // 2, 3, stride=2, padding=1, output_padding=1
                ),
                nn.InstanceNorm2d(channels // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def read_settings(folder: Path) -> GeneratorSettings:
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return GeneratorSettings()
    try:
        values = json.loads(path.read_text())
        known = {f.name for f in fields(GeneratorSettings)}
        return GeneratorSettings(**{k: int(v) for k, v in values.items() if k in known})
    except (ValueError, TypeError) as error:
        raise WeightsError(f"{path} is not valid generator settings: {error}") from error


def load_generator(path: Path, settings: GeneratorSettings) -> GlobalGenerator:
    generator = GlobalGenerator(settings)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k.removeprefix("module."): v for k, v in state.items()}
        generator.load_state_dict(state)
    except (RuntimeError, OSError, ValueError, AttributeError) as error:
        raise WeightsError(
            f"{path.name} is not a pix2pixHD global generator with {settings}: {_first_line(error)}"
        ) from error
    return generator.eval()


class Pix2PixHDSwapper:
    """`Swapper` running one generator per direction on the aligned crops, batched."""

    name = "pix2pixhd"
    default_strength = 1.0

    def __init__(
        self,
        generators: dict[Gender, GlobalGenerator],
        settings: GeneratorSettings,
        device: torch.device,
    ) -> None:
        self.generators = {g: m.to(device) for g, m in generators.items()}
        self.settings = settings
        self.device = device

    @classmethod
    def load(cls, weights_dir: Path | None, device: str = "auto") -> Pix2PixHDSwapper:
        if weights_dir is None:
            raise WeightsError(
                "the pix2pixhd swapper needs --weights-dir with "
                f"{' and '.join(CHECKPOINTS.values())}"
            )
        folder = Path(weights_dir)
        missing = [name for name in CHECKPOINTS.values() if not (folder / name).is_file()]
        if missing:
            raise WeightsError(
                f"{folder} lacks {', '.join(missing)} (pix2pixHD gender-swap checkpoints)"
            )
        settings = read_settings(folder)
        generators = {g: load_generator(folder / name, settings) for g, name in CHECKPOINTS.items()}
        return cls(generators, settings, resolve_device(device))

    def swap(
        self,
        crops: Sequence[AlignedCrop],
        genders: Sequence[Gender],
        strength: float | None = None,
        seeds: Sequence[int | None] | None = None,
    ) -> list[AlignedCrop]:
        """`strength` mixes output and input (1.0: the generator's output as it is); the
        generator draws nothing at random, so `seeds` change nothing."""
        alpha = self.default_strength if strength is None else float(np.clip(strength, 0.0, 1.0))
        results: list[AlignedCrop | None] = [None] * len(crops)
        for gender, generator in self.generators.items():
            chosen = [i for i, g in enumerate(genders) if g is gender]
            if not chosen:
                continue
            outputs = self._run(generator, [crops[i].image for i in chosen])
            for i, image in zip(chosen, outputs, strict=True):
                crop = crops[i]
                mixed = cv2.addWeighted(image, alpha, crop.image, 1.0 - alpha, 0.0)
                results[i] = AlignedCrop(
                    mixed, crop.landmarks, crop.alignment, _head_mask(crop.image.shape[0])
                )
        return [r for r in results if r is not None]

    def _run(self, generator: GlobalGenerator, images: list[np.ndarray]) -> list[np.ndarray]:
        size = self.settings.size
        batch = np.stack(
            [cv2.resize(im, (size, size), interpolation=cv2.INTER_CUBIC) for im in images]
        )
        x = torch.from_numpy(batch[..., ::-1].copy()).permute(0, 3, 1, 2).float().to(self.device)
        with torch.inference_mode():
            y = generator(x / 127.5 - 1.0)
        out = (
            ((y.clamp(-1, 1) + 1.0) * 127.5)
            .round()
            .byte()
            .permute(0, 2, 3, 1)
            .cpu()
            .numpy()[..., ::-1]
        )
        n = images[0].shape[0]
        return [
            cv2.resize(np.ascontiguousarray(o), (n, n), interpolation=cv2.INTER_AREA) for o in out
        ]


def _head_mask(size: int) -> np.ndarray:
    """The generators repaint face and hair: blend a soft ellipse over most of the crop."""
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(
        mask,
        (size // 2, int(size * 0.52)),
        (int(size * 0.40), int(size * 0.45)),
        0,
        0,
        360,
        1.0,
        -1,
    )
    return cv2.GaussianBlur(mask, (0, 0), size * 0.04)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
