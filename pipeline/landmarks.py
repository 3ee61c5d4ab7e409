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


MAX_YAW = 65.0  # degrees: beyond it one half of the face is mostly hidden (a profile)


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


def implausibility(
    landmarks: np.ndarray, box: Box, min_eye_distance: float = 8.0, max_yaw: float = MAX_YAW
) -> str | None:
    """Why these landmarks cannot be trusted for a swap, or None when they look like a face.

    Rejects faces too small to swap, landmarks strewn outside their box, eyes below the mouth,
    and heads turned more than `max_yaw` degrees (a profile: one half of the face is hidden).
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
    if abs(yaw_degrees(landmarks)) > max_yaw:
        return "head turned too far"
    return None
