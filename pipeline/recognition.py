"""dlib's 128-D face descriptor, computed 20-30 times faster than dlib computes it.

A descriptor is dlib's recognition ResNet run on a 150×150 face chip that dlib cuts around
the 68 landmarks. The chip is still cut by dlib (`get_face_chips`, the cut its own
`compute_face_descriptor` makes); the network runs on ONNX Runtime on the CPU (a graph exported
once from the weights in dlib's file and cached, see `onnx_graphs`), on torch where that is
not available or a GPU is asked for, and as dlib's own code where the file is not one
`dlib_net_file` reads. The descriptors are dlib's to 1e-6, so dlib's
0.6 same-person distance and every head fitted on dlib's descriptors stay valid. On this
project's 2-core CPU: 3-5 ms a face against dlib's own 90 ms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import dlib
import numpy as np

from . import models
from .device import device_kind
from .errors import WeightsError
from .onnx_graphs import OnnxUnavailable, cache_folder, cpu_session, export_module
from .weights import sha256

log = logging.getLogger(__name__)

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
CHIP_PADDING = 0.25  # dlib's default for its descriptor
DIMENSIONS = 128
GRAPH_VERSION = 1  # bump when the export changes, so cached graphs are remade


class FaceDescriber:
    """Faces in an RGB image, given as dlib landmark shapes → (n, 128) descriptors."""

    def __init__(self, network: Callable[[np.ndarray], np.ndarray], backend: str) -> None:
        self._network = network
        self.backend = backend  # "onnxruntime", "torch (cpu)", "torch (cuda)" or "dlib"

    def describe(self, rgb: np.ndarray, shapes: Sequence[dlib.full_object_detection]) -> np.ndarray:
        """Descriptors (float64) of the faces at `shapes` in the RGB uint8 image `rgb`."""
        return self.describe_chips(face_chips(rgb, shapes))

    def describe_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors (float64) of face chips as `face_chips` cuts them."""
        if len(chips) == 0:
            return np.zeros((0, DIMENSIONS))
        return np.asarray(self._network(chips), dtype=np.float64)


def face_chips(rgb: np.ndarray, shapes: Sequence[dlib.full_object_detection]) -> np.ndarray:
    """(n, 150, 150, 3) float32 RGB chips of the faces at `shapes`, cut as dlib cuts them for
    its descriptor."""
    if not shapes:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.float32)
    chips = dlib.get_face_chips(
        rgb, dlib.full_object_detections(list(shapes)), size=CHIP_SIZE, padding=CHIP_PADDING
    )
    return np.stack([np.asarray(chip) for chip in chips]).astype(np.float32)


def graph_name(digest: str) -> str:
    return f"dlib_face_recognition-{digest[:16]}-v{GRAPH_VERSION}.onnx"


def torch_network(path: Path, device: str = "cpu"):
    """dlib's network at `path` as a torch module on `device`, in eval mode."""
    import torch

    from .descriptor_net import DescriptorNet
    from .dlib_net_file import read_recognition_net

    return DescriptorNet(read_recognition_net(path)).eval().to(torch.device(device))


def export_graph(path: Path) -> bytes:
    """dlib's network at `path` as an ONNX graph (x: n×150×150×3 RGB 0-255 → descriptor)."""
    try:
        import torch
    except ImportError as error:
        raise OnnxUnavailable(f"torch is needed once to export dlib's network: {error}") from error
    example = torch.zeros(1, CHIP_SIZE, CHIP_SIZE, 3)
    return export_module(torch_network(path), example, "descriptor")


def load_describer(
    device: str = "cpu", threads: int | None = None, folder: Path | None = None
) -> FaceDescriber:
    """The describer: ONNX Runtime on the CPU (`threads`: None, one a core; `folder`: the
    graph cache), torch where that cannot be set up or `device` is a GPU, and dlib's own
    (slow) code where the model file is not one `dlib_net_file` can read (another version of
    the package). A missing model file raises `WeightsError`."""
    path = models.model_path(MODEL_FILE)
    try:
        if device_kind(device) == "cpu":
            graph = (folder or cache_folder()) / graph_name(sha256(path))
            try:
                session = cpu_session(graph, lambda: export_graph(path), threads, "dlib's network")
                return FaceDescriber(
                    lambda chips: session.run(None, {"x": chips})[0], "onnxruntime"
                )
            except OnnxUnavailable as error:
                log.info("face descriptors on torch: %s", error)
        return torch_describer(path, device_kind(device))
    except WeightsError as error:
        log.warning("face descriptors by dlib's own code (about 90 ms a face): %s", error)
        return dlib_describer(path)


def torch_describer(path: Path, device: str) -> FaceDescriber:
    import torch

    network = torch_network(path, device)

    def run(chips: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(chips).to(device)).cpu().numpy()

    return FaceDescriber(run, f"torch ({device})")


def dlib_describer(path: Path) -> FaceDescriber:
    """dlib's own descriptor code on the chips: the same numbers, 20-30 times slower."""
    encoder = dlib.face_recognition_model_v1(str(path))

    def run(chips: np.ndarray) -> np.ndarray:
        images = [np.ascontiguousarray(chip.astype(np.uint8)) for chip in chips]
        return np.asarray(encoder.compute_face_descriptor(images))

    return FaceDescriber(run, "dlib")
