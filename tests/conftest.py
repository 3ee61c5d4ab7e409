"""Shared fixtures. Faces come from the project's own latent model (synthetic people) or from
the committed samples made from it; tests that need the shared research data skip without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not (path / "gender").is_dir():
        pytest.skip(f"needs the shared face data at {path} (not part of the repository)")
    return path


@pytest.fixture(scope="session")
def shared_media() -> Path:
    path = SHARED / "media"
    if not path.is_dir():
        pytest.skip(f"needs the shared media at {path} (not part of the repository)")
    return path


@pytest.fixture(scope="session")
def latent_model():
    from pipeline.latent.model import LatentFaceModel
    from pipeline.latent.swapper import CARD_KIND, CARD_NAME, CARD_VERSION
    from pipeline.weights import read_card

    _, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION)
    return LatentFaceModel.load(path)


@pytest.fixture(scope="session")
def synthetic_faces(latent_model):
    """Four synthetic faces (two of each gender) on 256×256 canvases."""
    from pipeline.latent.synth import sample_face
    from pipeline.types import Gender

    rng = np.random.default_rng(7)
    return [sample_face(latent_model, rng, g) for g in (Gender.MALE, Gender.FEMALE) * 2]


@pytest.fixture(scope="session")
def face_frame(synthetic_faces) -> tuple[np.ndarray, np.ndarray]:
    """A 480×640 frame with one synthetic face placed off-centre, and its landmarks."""
    import cv2

    face = synthetic_faces[0]
    frame = np.full((480, 640, 3), 200, np.uint8)
    scaled = cv2.resize(face.image, (320, 320), interpolation=cv2.INTER_CUBIC)
    frame[100:420, 200:520] = scaled
    return frame, face.landmarks * 320 / 256 + np.array([200, 100], np.float32)


@pytest.fixture(scope="session")
def portrait() -> Path:
    return SAMPLES / "portrait.png"


@pytest.fixture(scope="session")
def group() -> Path:
    return SAMPLES / "group.png"
