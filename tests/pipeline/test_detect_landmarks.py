import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.detect import DetectorConfig, FaceDetector, default_min_face
from pipeline.landmarks import LEFT_EYE, MOUTH_LEFT, RIGHT_EYE, Landmarker, implausibility
from pipeline.types import Box


def test_scale_follows_the_smallest_face_wanted():
    hog = FaceDetector(DetectorConfig(min_face=40))
    assert hog.scale_for(480, 640) == pytest.approx(2.0)
    assert FaceDetector(DetectorConfig(min_face=160)).scale_for(2160, 3840) == pytest.approx(0.5)
    assert default_min_face(2160, 3840) == 108
    assert FaceDetector(DetectorConfig(kind="cnn", min_face=40)).scale_for(
        480, 640
    ) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        FaceDetector(DetectorConfig(kind="magic"))


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5])
def test_detects_the_face_at_any_frame_size(face_frame, scale):
    frame, landmarks = face_frame
    frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found = FaceDetector().detect(frame)
    assert len(found) == 1
    truth = Box.around(landmarks * scale)
    assert found[0].box.iou(truth) > 0.4  # boxes are in full-resolution pixels


def test_finds_every_face_in_the_group_sample(group):
    frame = cv2.cvtColor(np.asarray(Image.open(group).convert("RGB")), cv2.COLOR_RGB2BGR)
    assert len(FaceDetector().detect(frame)) >= 3


def test_cnn_detector_finds_the_face(face_frame):
    frame, landmarks = face_frame
    found = FaceDetector(DetectorConfig(kind="cnn", min_face=80)).detect(frame)
    assert len(found) == 1 and found[0].box.iou(Box.around(landmarks)) > 0.3


def test_landmarks_are_plausible_and_close_to_the_truth(face_frame):
    frame, truth = face_frame
    box = FaceDetector().detect(frame)[0].box
    points = Landmarker().fit(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), box)
    assert points.shape == (68, 2)
    assert implausibility(points, box) is None
    eye_distance = np.linalg.norm(points[LEFT_EYE].mean(0) - points[RIGHT_EYE].mean(0))
    # The synthetic face was rendered from known landmarks: dlib finds them again.
    assert np.median(np.linalg.norm(points - truth, axis=1)) < 0.12 * eye_distance
    assert points[LEFT_EYE].mean(0)[1] < points[MOUTH_LEFT][1]


def test_implausibility_reasons(face_frame):
    _, points = face_frame
    box = Box.around(points)
    assert implausibility(points, box) is None
    assert implausibility(points * 0.02, box.scaled(0.02)) == "too small"
    assert implausibility(points + 1000, box) == "landmarks outside the face box"
    flipped = points.copy()
    flipped[:, 1] = 2 * points[:, 1].mean() - points[:, 1]
    assert implausibility(flipped, Box.around(flipped)) == "implausible landmarks"
    turned = points.copy()
    centre = turned[30, 0]
    left = turned[:, 0] < centre
    turned[left, 0] = centre - (centre - turned[left, 0]) * 0.1  # one half squashed: seen edge-on
    assert implausibility(turned, Box.around(turned)) == "head turned too far"
