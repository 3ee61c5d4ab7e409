"""Small frozen dataclasses that flow between the pipeline stages.

Frames are plain numpy BGR uint8 arrays; everything else a stage hands to the next one is one
of these, with named fields (no bare tuples for boxes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Gender(str, Enum):
    """A gender verdict; `opposite` is the direction a swap moves the face."""

    MALE = "male"
    FEMALE = "female"

    @property
    def opposite(self) -> Gender:
        return Gender.FEMALE if self is Gender.MALE else Gender.MALE


class Action(str, Enum):
    """What the pipeline did to a face."""

    SWAPPED = "swapped"
    BLURRED = "blurred"


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in pixel coordinates (right/bottom exclusive)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def scaled(self, factor: float) -> Box:
        """The same box in an image resized by `factor`."""
        return Box(self.left * factor, self.top * factor, self.right * factor, self.bottom * factor)

    def expanded(self, factor: float) -> Box:
        """The box grown about its centre by `factor` in each dimension."""
        cx, cy = self.center
        hw, hh = self.width * factor / 2, self.height * factor / 2
        return Box(cx - hw, cy - hh, cx + hw, cy + hh)

    def iou(self, other: Box) -> float:
        """Intersection over union with another box."""
        inter = Box(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        )
        if inter.width <= 0 or inter.height <= 0:
            return 0.0
        union = self.area + other.area - inter.area
        return inter.area / union if union > 0 else 0.0

    @staticmethod
    def around(points: np.ndarray) -> Box:
        """The tight box around an (N, 2) array of points."""
        lo, hi = points.min(axis=0), points.max(axis=0)
        return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


@dataclass(frozen=True)
class Detection:
    """A face box from a detector, before landmarks: `box` in the landmark predictor's
    convention (dlib's, brows to chin), `points` the detector's five landmarks (eyes, nose
    tip, mouth corners) where it gives them; `sure`: False for a detection below the
    detector's threshold that a tracker may use to keep a face it follows, never to start one
    (see `DetectorConfig.keep_margin`)."""

    box: Box
    score: float
    points: np.ndarray | None = field(default=None, compare=False)
    sure: bool = True


@dataclass(frozen=True, eq=False)
class Face:
    """One face in a frame: box, 68 landmarks (x, y in frame pixels), detector score, track,
    and the detector's five points where the detector found it in this frame."""

    box: Box
    landmarks: np.ndarray
    score: float
    track_id: int | None = None
    points: np.ndarray | None = None

    @staticmethod
    def found(detection: Detection, landmarks: np.ndarray, track_id: int | None = None) -> Face:
        """The face a detection became, once its landmarks are fitted."""
        return Face(
            box=detection.box,
            landmarks=landmarks,
            score=detection.score,
            track_id=track_id,
            points=detection.points,
        )


@dataclass(frozen=True, eq=False)
class Alignment:
    """The similarity transform between a frame and a face's N×N canonical crop."""

    size: int
    forward: np.ndarray  # 2×3, frame → crop
    inverse: np.ndarray  # 2×3, crop → frame

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel."""
        return float(np.hypot(self.forward[0, 0], self.forward[0, 1]))

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        return _apply(self.forward, points)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        return _apply(self.inverse, points)


@dataclass(frozen=True, eq=False)
class AlignedCrop:
    """A face warped to its canonical crop, with its landmarks in crop coordinates."""

    image: np.ndarray  # N×N×3 BGR uint8
    landmarks: np.ndarray  # 68×2 float32, crop pixels
    alignment: Alignment
    mask: np.ndarray | None = None  # N×N float32 0–1: what a transform changed (None: the hull)


@dataclass(frozen=True)
class Verdict:
    """A gender classification with the probability of the chosen class."""

    gender: Gender
    confidence: float


@dataclass(frozen=True)
class Similarity:
    """How much of the original face survives the transform.

    `pixel` is the original study's measure in percent; `identity` is the cosine of dlib face
    descriptors in percent, `identity_distance` their Euclidean distance, and `reid_risk` is
    True when that distance is below 0.6, i.e. a face recogniser would still match the two.
    The identity fields are None when descriptors were not computed for this face.
    """

    pixel: float
    identity: float | None = None
    identity_distance: float | None = None
    reid_risk: bool | None = None


@dataclass(frozen=True, eq=False)
class SwapResult:
    """A transformed face: its crop, the blend mask (crop coordinates) and similarity figures."""

    crop: np.ndarray
    mask: np.ndarray
    similarity: Similarity


@dataclass(frozen=True, eq=False)
class FaceOutcome:
    """What happened to one face: swapped (with a result) or blurred (with the reason)."""

    face: Face
    action: Action
    verdict: Verdict | None = None
    result: SwapResult | None = None
    reason: str | None = None


@dataclass(frozen=True, eq=False)
class FrameResult:
    """A processed frame, its faces, and seconds spent in each stage."""

    image: np.ndarray
    faces: tuple[FaceOutcome, ...]
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of this frame's face work
    over_limit: bool = False  # faces were covered because the frame ran out of time

    @property
    def swapped(self) -> int:
        return sum(f.action is Action.SWAPPED for f in self.faces)

    @property
    def blurred(self) -> int:
        return sum(f.action is Action.BLURRED for f in self.faces)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
