"""Batched training augmentations on uint8 BGR windows, in torch (cheap on a CPU).

They imitate what run-time faces go through: mirror images, small misalignments, lighting and
white balance, defocus, low resolution (CCTV, webcams far away) and JPEG compression.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def random_affine(
    images: torch.Tensor,
    out_hw: tuple[int, int],
    generator: torch.Generator,
    max_rotate: float = 8.0,
    max_scale: float = 0.08,
    max_shift: float = 0.05,
) -> torch.Tensor:
    """Cut a centred out_hw window from larger float images (n, 3, H, W) through a random
    rotation, scale, shift and mirror."""
    n, _, height, width = images.shape
    out_h, out_w = out_hw

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-max_rotate, max_rotate) * math.pi / 180
    scale = 1 + uniform(-max_scale, max_scale)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    shift_x, shift_y = uniform(-max_shift, max_shift), uniform(-max_shift, max_shift)
    # Output coordinates in [-1, 1] over the window map to input coordinates in [-1, 1].
    sx, sy = out_w / width * scale, out_h / height * scale
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * sx * flip
    theta[:, 0, 1] = -sin * sy * height / width
    theta[:, 1, 0] = sin * sx * flip * width / height
    theta[:, 1, 1] = cos * sy
    theta[:, 0, 2] = shift_x
    theta[:, 1, 2] = shift_y
    grid = F.affine_grid(theta, (n, 3, out_h, out_w), align_corners=False)
    return F.grid_sample(
        images, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )


def colour_jitter(
    images: torch.Tensor, generator: torch.Generator, strength: float = 0.25
) -> torch.Tensor:
    """Brightness, contrast, saturation and per-channel gain, on images in [0, 1]."""
    n = images.shape[0]

    def factor(spread: float, shape: tuple[int, ...] = (1, 1, 1)) -> torch.Tensor:
        return 1 + (torch.rand(n, *shape, generator=generator) * 2 - 1) * spread

    gray = images.mean(dim=1, keepdim=True)
    images = gray + (images - gray) * factor(strength)  # saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = mean + (images - mean) * factor(strength)  # contrast
    images = (
        images * factor(strength) * factor(strength / 3, (3, 1, 1))
    )  # brightness, white balance
    return images.clamp_(0, 1)


def degrade(images: torch.Tensor, generator: torch.Generator, p: float = 0.3) -> torch.Tensor:
    """With probability p each: defocus blur, resolution loss, sensor noise (one random
    strength per batch for each, so the work stays batched)."""
    n, _, height, width = images.shape
    out = images
    pick = torch.rand(n, 3, generator=generator) < p
    if pick[:, 0].any():
        sigma = float(torch.rand(1, generator=generator)) * 1.5 + 0.3
        out = torch.where(pick[:, 0].view(n, 1, 1, 1), _gaussian_blur(out, sigma), out)
    if pick[:, 1].any():
        factor = float(torch.rand(1, generator=generator)) * 0.6 + 0.25
        small = F.interpolate(out, scale_factor=factor, mode="area")
        low = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
        out = torch.where(pick[:, 1].view(n, 1, 1, 1), low, out)
    noise = torch.randn(out.shape, generator=generator) * 0.03
    out = torch.where(pick[:, 2].view(n, 1, 1, 1), out + noise, out)
    return out.clamp(0, 1)


def jpeg(images: np.ndarray, rng: np.random.Generator, p: float = 0.3) -> np.ndarray:
    """Re-encode a random share of uint8 BGR images as JPEG at quality 20–80."""
    out = images.copy()
    for i in np.flatnonzero(rng.random(len(images)) < p):
        quality = int(rng.integers(20, 81))
        ok, data = cv2.imencode(".jpg", images[i], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out[i] = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return out


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2.5 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    c = image.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    image = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="reflect"), horizontal, groups=c)
    return F.conv2d(F.pad(image, (0, 0, radius, radius), mode="reflect"), vertical, groups=c)
