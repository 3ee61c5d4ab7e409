"""dlib's face-recognition ResNet as a torch module, from the layers `dlib_net_file` reads.

It takes face chips as dlib cuts them (n × 150 × 150 × 3 RGB, 0-255, float32) and gives dlib's
128-D descriptors. Where a strided block and its pooled input differ in size (dlib's 3×3/2
convolution without padding against its 2×2/2 pool), dlib adds them over the larger shape with
the smaller zero-padded at the end, and so does this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dlib_net_file import Affine, Block, Conv, DlibRecognitionNet


def _conv(layer: Conv) -> nn.Conv2d:
    out, inputs, size, _ = layer.weight.shape
    conv = nn.Conv2d(inputs, out, size, layer.stride, layer.padding)
    conv.weight.data = torch.from_numpy(layer.weight.copy())
    conv.bias.data = torch.from_numpy(layer.bias.copy())
    return conv


class _Scale(nn.Module):
    def __init__(self, layer: Affine) -> None:
        super().__init__()
        self.register_buffer("scale", torch.from_numpy(layer.scale.copy()).view(1, -1, 1, 1))
        self.register_buffer("shift", torch.from_numpy(layer.shift.copy()).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def padded_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b over the larger of each dimension, the smaller zero-padded at the end (dlib's
    `add_prev`)."""
    channels, rows, cols = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grown(x: torch.Tensor) -> torch.Tensor:
        missing = (0, cols - x.shape[3], 0, rows - x.shape[2], 0, channels - x.shape[1])
        return F.pad(x, missing) if any(missing) else x

    return grown(a) + grown(b)


class _Residual(nn.Module):
    def __init__(self, block: Block) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            _conv(block.first),
            _Scale(block.first_norm),
            nn.ReLU(),
            _conv(block.second),
            _Scale(block.second_norm),
        )
        self.pooled = block.pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = F.avg_pool2d(x, 2, 2) if self.pooled else x
        return F.relu(padded_sum(self.branch(x), shortcut))


class DescriptorNet(nn.Module):
    """Face chips (n, size, size, 3) RGB 0-255 → (n, 128) dlib face descriptors."""

    def __init__(self, net: DlibRecognitionNet) -> None:
        super().__init__()
        self.register_buffer("means", torch.tensor(net.channel_means).view(1, 3, 1, 1))
        window, stride, padding = net.pool
        self.stem = nn.Sequential(
            _conv(net.stem), _Scale(net.stem_norm), nn.ReLU(), nn.MaxPool2d(window, stride, padding)
        )
        self.blocks = nn.Sequential(*(_Residual(block) for block in net.blocks))
        self.register_buffer("projection", torch.from_numpy(net.projection.copy()))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips.permute(0, 3, 1, 2) - self.means) / 256.0
        features = self.blocks(self.stem(x)).mean(dim=(2, 3))
        return features @ self.projection
