"""Small faces in large frames: tiled upscaled detection finds each face once, with bounded
detector calls, and `--detector auto` picks the CNN only where dlib has a GPU."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import pipeline.detect as detect
from pipeline.detect import DetectorConfig, FaceDetector, merge_detections
from pipeline.types import Box, Detection

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


class SquareFinder:
    """Stands in for dlib: 'faces' are white squares at least 80 px across in the scaled
    image, found only when wholly visible (a cut face is not found), like the real detector."""

    def __init__(self) -> None:
        self.sides: list[int] = []

    def __call__(self, rgb: np.ndarray, threshold: float) -> list[tuple[Box, float]]:
        self.sides.append(max(rgb.shape[:2]))
        height, width = rgb.shape[:2]
        white = (rgb.min(axis=2) > 200).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(white)
        found = []
        for x, y, w, h, _ in stats[1:count]:
            cut = x == 0 or y == 0 or x + w == width or y + h == height
            if min(w, h) >= 80 and not cut:
                found.append((Box(x, y, x + w, y + h), 1.0 + w / 1000))
        return found


@pytest.fixture
def finder(monkeypatch) -> SquareFinder:
    fake = SquareFinder()
    monkeypatch.setattr(detect, "_run_hog", fake)
    return fake


# A 1280×720 frame at 4× (min_face 20, tiles of at most 512 frame pixels, 102 px overlap) is
# scanned as 3×2 tiles: columns [0, 496), [392, 888), [784, 1280); rows [0, 413), [307, 720).
SQUARES = [
    Box(40, 40, 62, 62),  # tiny, in one tile
    Box(500, 300, 522, 322),  # tiny, across the inner edges at x = 496 and y = 307
    Box(380, 400, 404, 424),  # tiny, across x = 392 and y = 413
    Box(874, 100, 964, 190),  # medium, across x = 888
    Box(370, 560, 520, 710),  # 150 px: cut by every tile, left to the whole-frame pass
    Box(900, 380, 1200, 680),  # large
]


def squares_frame() -> np.ndarray:
    frame = np.full((720, 1280, 3), 40, np.uint8)
    for box in SQUARES:
        left, top, right, bottom = (int(v) for v in (box.left, box.top, box.right, box.bottom))
        frame[top:bottom, left:right] = 255
    return frame


def matches(found: list[Detection]) -> list[int]:
    """For each square, how many detections cover it."""
    return [sum(d.box.iou(square) > 0.8 for d in found) for square in SQUARES]


def test_tiles_find_every_face_once_and_bound_each_detector_call(finder):
    frame = squares_frame()
    tiled = FaceDetector(DetectorConfig(kind="hog", min_face=20, tile=2048))
    assert tiled.scale_for(720, 1280) == pytest.approx(4.0)
    found = tiled.detect(frame)
    assert matches(found) == [1] * len(SQUARES)
    assert len(found) == len(SQUARES)
    assert max(finder.sides) <= 2048 + 8  # one tile, give or take rounding
    assert len(finder.sides) == 7  # six tiles and one coarse pass


def test_tiled_and_whole_frame_detection_agree(finder):
    frame = squares_frame()
    whole = FaceDetector(DetectorConfig(kind="hog", min_face=20, tile=0)).detect(frame)
    assert max(finder.sides) == 5120  # the whole frame at 4×
    tiled = FaceDetector(DetectorConfig(kind="hog", min_face=20)).detect(frame)
    assert matches(whole) == matches(tiled) == [1] * len(SQUARES)


def test_small_frames_are_scanned_in_one_call(finder):
    frame = cv2.resize(squares_frame(), (320, 180), interpolation=cv2.INTER_NEAREST)
    FaceDetector(DetectorConfig(kind="hog", min_face=40)).detect(frame)
    assert finder.sides == [640]


def test_merge_keeps_the_surest_box_of_each_face():
    a = Detection(Box(0, 0, 100, 100), 2.0)
    a_again = Detection(Box(5, 5, 102, 104), 1.0)
    inside = Detection(Box(10, 10, 60, 60), 3.0)  # a part of the face, found in a cut tile
    other = Detection(Box(200, 0, 300, 100), 0.5)
    assert merge_detections([a_again, a, other]) == [a, other]
    assert merge_detections([a, inside]) == [inside]
    with pytest.raises(ValueError):
        FaceDetector(DetectorConfig(kind="hog", tile=300))


def test_auto_and_the_default_are_centerface():
    assert FaceDetector(DetectorConfig(kind="auto")).kind == "centerface"
    assert FaceDetector().kind == "centerface"
    assert FaceDetector(DetectorConfig(kind="cnn")).kind == "cnn"
    assert FaceDetector(DetectorConfig(kind="hog")).kind == "hog"


def test_a_tiny_real_face_is_found_by_upscaled_tiles():
    if not (WEIGHTS / "latent_swapper.json").is_file():
        pytest.skip("needs weights/latent_swapper.json to draw a synthetic face")
    from pipeline.latent.model import LatentFaceModel
    from pipeline.latent.swapper import CARD_KIND, CARD_NAME, CARD_VERSION
    from pipeline.latent.synth import sample_face
    from pipeline.weights import read_card

    _, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION)
    face = sample_face(LatentFaceModel.load(path), np.random.default_rng(3))
    frame = np.full((720, 1280, 3), 120, np.uint8)
    small = cv2.resize(face.image, (40, 40), interpolation=cv2.INTER_AREA)
    frame[300:340, 480:520] = small  # across the inner tile edge at x = 496
    truth = Box.around(face.landmarks * 40 / face.image.shape[0] + np.array([480, 300]))
    # at full resolution the face is below HOG's 80 px window: only upscaling can find it
    assert FaceDetector(DetectorConfig(kind="hog", min_face=80)).detect(frame) == []
    found = FaceDetector(DetectorConfig(kind="hog", min_face=20)).detect(frame)
    assert len(found) == 1 and found[0].box.iou(truth) > 0.3
