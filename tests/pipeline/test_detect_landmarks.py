import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.detect import DetectorConfig, FaceDetector, default_min_face
from pipeline.landmarks import LEFT_EYE, MOUTH_LEFT, RIGHT_EYE, Landmarker, implausibility
from pipeline.types import Box


def test_scale_follows_the_smallest_face_wanted():
    hog = FaceDetector(DetectorConfig(kind="hog", min_face=40))
    assert hog.scale_for(480, 640) == pytest.approx(2.0)
    big = FaceDetector(DetectorConfig(kind="hog", min_face=160))
    assert big.scale_for(2160, 3840) == pytest.approx(0.5)
    # CenterFace finds faces from 14 px: a 640×360 frame with faces from 24 px at 0.58×
    assert FaceDetector(DetectorConfig(min_face=24)).scale_for(360, 640) == pytest.approx(14 / 24)
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
    assert len(FaceDetector().detect(frame)) == 4
    assert len(FaceDetector(DetectorConfig(kind="hog")).detect(frame)) >= 3


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
    turned[left, 0] = centre - (centre - turned[left, 0]) * 0.03  # one half squashed: edge-on
    assert implausibility(turned, Box.around(turned)) == "head turned too far"


def test_three_quarter_views_are_swappable_profiles_are_not(face_frame):
    """Yaw from where the nose lies between the jaw's ends: about 45° is a three-quarter view
    (swapped), 80° a profile (covered)."""
    from pipeline.landmarks import MAX_YAW, yaw_degrees

    _, points = face_frame
    assert abs(yaw_degrees(points)) < 10
    centre = points[30, 0]
    for squash, expected in ((0.17, 45.0), (0.01, 80.0)):
        turned = points.copy()
        left = turned[:, 0] < centre
        turned[left, 0] = centre - (centre - turned[left, 0]) * squash
        yaw = yaw_degrees(turned)
        assert abs(yaw) == pytest.approx(expected, abs=8)
        reason = implausibility(turned, Box.around(turned))
        assert (reason is None) == (abs(yaw) <= MAX_YAW)


def test_centerface_boxes_give_the_landmarks_hog_boxes_give(face_frame):
    """The five-point mapping puts CenterFace's faces in the box dlib's predictor was trained
    on: the 68 landmarks fitted in either box agree."""
    frame, _ = face_frame
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    (ours,) = FaceDetector().detect(frame)
    (hogs,) = FaceDetector(DetectorConfig(kind="hog")).detect(frame)
    assert ours.points is not None and ours.points.shape == (5, 2)
    assert ours.box.iou(hogs.box) > 0.7
    landmarker = Landmarker()
    a, b = landmarker.fit(gray, ours.box), landmarker.fit(gray, hogs.box)
    eyes = np.linalg.norm(b[LEFT_EYE].mean(0) - b[RIGHT_EYE].mean(0))
    assert np.median(np.linalg.norm(a - b, axis=1)) < 0.05 * eyes


def test_landmark_box_follows_the_five_points():
    from pipeline.detect import POINTS_SIDE, landmark_box

    points = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
    box = landmark_box(points)
    assert box.width == pytest.approx(POINTS_SIDE * 40)  # eye to mouth: 40 px
    shifted = landmark_box(points * 2 + 10)
    assert shifted.width == pytest.approx(2 * box.width)
    assert shifted.center[0] == pytest.approx(2 * box.center[0] + 10)


def test_a_photo_without_a_face_found_gets_a_second_look(face_frame, monkeypatch):
    import pipeline.detect as detect

    calls = []
    real = detect.centerface.detect

    def shy(image, threshold, use_gpu=False):
        calls.append(threshold)
        return real(image, threshold, use_gpu) if threshold < 0.5 else []

    monkeypatch.setattr(detect.centerface, "detect", shy)
    frame, _ = face_frame
    assert FaceDetector().detect(frame) == []
    assert len(FaceDetector(DetectorConfig(second_look=True)).detect(frame)) == 1
    assert calls[-1] == pytest.approx(0.5 + detect.SECOND_LOOK)


def test_a_photo_no_upright_look_finds_is_scanned_turned(face_frame, monkeypatch):
    """The last look: where neither upright look finds a face, the photo turned by 30° each
    way; the face found there comes back with its points (and box) where the face is."""
    frame, _ = face_frame
    upright = FaceDetector().detect(frame)[0]
    scans = []
    real = FaceDetector._detect_at

    def sees_only_turned(self, image, scale, threshold):
        scans.append(image.shape[:2])
        return [] if image is frame else real(self, image, scale, threshold)

    monkeypatch.setattr(FaceDetector, "_detect_at", sees_only_turned)
    assert FaceDetector().detect(frame) == []  # video: no second or last look
    scans.clear()
    (found,) = FaceDetector(DetectorConfig(second_look=True)).detect(frame)
    assert len(scans) == 3  # first look, second look, the first turned view
    assert scans[-1][0] > frame.shape[0] and scans[-1][1] > frame.shape[1]
    # turned back the wrong way, the right eye and the mouth would land an eye distance away
    eyes = float(np.linalg.norm(upright.points[1] - upright.points[0]))
    assert np.abs(found.points[:2] - upright.points[:2]).max() < 0.25 * eyes
    assert np.abs(found.points - upright.points).max() < 0.35 * eyes
    assert found.box.iou(upright.box) > 0.6
    assert FaceDetector(DetectorConfig(kind="hog", second_look=True)).detect(frame) == []


def test_the_last_look_scans_a_large_photo_turned_at_a_bounded_size(monkeypatch):
    """A 4000×3000 photo without a face: the turned views are scanned at most LAST_LOOK_SIDE
    pixels on the photo's long side (a turned canvas is larger by up to cos + sin of 30°),
    never at full resolution."""
    import pipeline.detect as detect

    scanned = []
    monkeypatch.setattr(
        detect.centerface, "detect", lambda image, *a: scanned.append(image.shape) or []
    )
    photo = np.zeros((3000, 4000, 3), np.uint8)
    assert FaceDetector(DetectorConfig(second_look=True)).detect(photo) == []
    *upright, first_turn, second_turn = scanned  # first look, second look (tiled), two turns
    assert max(max(shape[:2]) for shape in upright) > 1500  # the second look: full resolution
    for shape in (first_turn, second_turn):
        assert max(shape[:2]) <= detect.LAST_LOOK_SIDE * (np.cos(np.pi / 6) + 0.5) + 1, scanned


def test_a_profile_by_the_detector_points_is_covered_whatever_the_fit(face_frame):
    """dlib's 68 points fitted on a profile can look like a three-quarter view; the detector's
    nose point outside both eyes says profile."""
    from pipeline.landmarks import nose_position

    frame, points = face_frame
    (found,) = FaceDetector().detect(frame)
    assert 0.3 < nose_position(found.points) < 0.7  # the synthetic face looks at the camera
    box = Box.around(points)
    assert implausibility(points, box, points=found.points) is None
    profile = found.points.copy()
    profile[2, 0] = profile[0, 0] - 0.5 * (profile[1, 0] - profile[0, 0])  # nose past an eye
    assert implausibility(points, box, points=profile) == "head turned too far"
