"""Stage 2: 68-point landmarks with dlib's shape predictor, and a plausibility check.

Points follow the iBUG 300-W order: jaw 0–16, brows 17–26, nose 27–35, eyes 36–47, mouth 48–67.
"""

from __future__ import annotations

import dlib
import numpy as np

from . import models
from .types import Box

JAW = slice(0, 17)
LEFT_EYE = slice(36, 42)  # the subject's right eye, on the image's left
RIGHT_EYE = slice(42, 48)
NOSE_TIP = 30
MOUTH_LEFT, MOUTH_RIGHT = 48, 54
OUTER_LIPS = slice(48, 60)
BROWS = (slice(17, 22), slice(22, 27))


def eye_span(landmarks: np.ndarray) -> float:
    """The distance between the two eyes' centres, in the landmarks' units."""
    return float(
        np.linalg.norm(landmarks[RIGHT_EYE].mean(axis=0) - landmarks[LEFT_EYE].mean(axis=0))
    )


class Landmarker:
    """Fits 68 landmarks inside a face box. Pass a grayscale frame (converted once per frame)."""

    def __init__(self) -> None:
        self._predictor = models.shape_predictor()

    def fit(self, gray: np.ndarray, box: Box) -> np.ndarray:
        rect = dlib.rectangle(
            round(box.left), round(box.top), round(box.right) - 1, round(box.bottom) - 1
        )
        shape = self._predictor(gray, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


MAX_YAW = 60.0  # degrees: beyond it one half of the face is mostly hidden (a profile)
# Where the detector's nose point lies along its eye line, 0 at one eye, 1 at the other: about
# 0.5 facing the camera, 0.1–0.3 (or 0.7–0.9) in three-quarter view, outside both eyes in
# profile. dlib's 68 points fitted on a profile can still look like a three-quarter view (a
# stage clip: estimated yaw 30°, nose at -4.7 by CenterFace); the detector's points cannot.
NOSE_SPAN = (-0.25, 1.25)
TURNED = "head turned too far"


def yaw_degrees(landmarks: np.ndarray) -> float:
    """How far the head is turned, estimated from where the nose tip lies between the jaw's
    ends along the eye line: on a head seen turned by θ the two spans are about R(1 ± sin θ).
    Positive: turned towards the image's left. 90 where one span vanishes."""
    left_eye = landmarks[LEFT_EYE].mean(axis=0)
    right_eye = landmarks[RIGHT_EYE].mean(axis=0)
    axis = right_eye - left_eye
    axis = axis / max(float(np.hypot(*axis)), 1e-6)
    jaw, nose = landmarks[JAW], landmarks[NOSE_TIP]
    to_left = float(np.dot(nose - jaw[0], axis))
    to_right = float(np.dot(jaw[-1] - nose, axis))
    if min(to_left, to_right) <= 0:
        return 90.0 if to_left <= 0 else -90.0
    return float(np.degrees(np.arcsin((to_right - to_left) / (to_right + to_left))))


def profile_by_points(points: np.ndarray) -> bool:
    """Whether a detector's five points put the nose beyond the eyes: a face in profile."""
    return not NOSE_SPAN[0] <= nose_position(points) <= NOSE_SPAN[1]


def nose_position(points: np.ndarray) -> float:
    """Where a detector's five points (eyes, nose, mouth corners) put the nose along the eye
    line: 0 at the first eye, 1 at the second."""
    eyes = points[1] - points[0]
    return float(np.dot(points[2] - points[0], eyes) / max(float(np.dot(eyes, eyes)), 1e-6))


def implausibility(
    landmarks: np.ndarray,
    box: Box,
    min_eye_distance: float = 8.0,
    max_yaw: float | None = MAX_YAW,
    points: np.ndarray | None = None,
) -> str | None:
    """Why these landmarks cannot be trusted for a swap, or None when they look like a face.

    Rejects faces too small to swap, landmarks strewn outside their box, eyes below the mouth,
    and heads turned more than `max_yaw` degrees (None: not judged here; a tracker holds the
    pose over frames), or seen in profile by the detector's own five `points` where given
    (one half of the face hidden).
    """
    left_eye = landmarks[LEFT_EYE].mean(axis=0)
    right_eye = landmarks[RIGHT_EYE].mean(axis=0)
    eye_distance = float(np.hypot(*(right_eye - left_eye)))
    if eye_distance < min_eye_distance:
        return "too small"
    outer = box.expanded(2.0)
    inside = (
        (landmarks[:, 0] >= outer.left)
        & (landmarks[:, 0] <= outer.right)
        & (landmarks[:, 1] >= outer.top)
        & (landmarks[:, 1] <= outer.bottom)
    )
    if not inside.all():
        return "landmarks outside the face box"
    eye_mid = (left_eye + right_eye) / 2
    mouth_mid = (landmarks[MOUTH_LEFT] + landmarks[MOUTH_RIGHT]) / 2
    eye_axis = (right_eye - left_eye) / eye_distance
    down = np.array([-eye_axis[1], eye_axis[0]])
    eye_to_mouth = float(np.dot(mouth_mid - eye_mid, down))
    if not 0.4 * eye_distance < eye_to_mouth < 2.5 * eye_distance:
        return "implausible landmarks"
    if max_yaw is not None and abs(yaw_degrees(landmarks)) > max_yaw:
        return TURNED
    if points is not None and profile_by_points(points):
        return TURNED
    return None
