"""Temporal consistency for video: face tracks, held gender verdicts, coverage of misses.

Each face gets a track id. On detection frames (every `detect_every`-th frame) detections are
matched to tracks by box overlap (optimal assignment); in between, and whenever the detector
misses a face its track still predicts, the landmarks are re-fitted inside the predicted box, so
the face stays covered (swapped, or blurred if the fit is implausible) for `max_misses` frames
rather than flashing raw. Between detection frames, the next detection frame's faces (when the
caller has them: a recorded file is read ahead) that no track follows yet start their tracks at
once, so a face that walks in is covered from the first frame, not from the next detection.
A track's gender is averaged over its first frames and then held, so a face never changes
direction mid-clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from .detect import FaceDetector
from .landmarks import Landmarker
from .prefetch import Found, detections_of
from .timing import StageTimer
from .types import Box, Detection, Face, Gender, Verdict


@dataclass(frozen=True)
class TrackerConfig:
    """`detect_every`: run the detector on every k-th frame; `max_misses`: detection rounds a
    track is kept (and its face covered) after the detector last confirmed it; `vote_frames`:
    frames whose verdicts decide a track's gender; `lock_confidence`: decide early once sure."""

    detect_every: int = 1
    max_misses: int = 15
    min_iou: float = 0.2
    vote_frames: int = 8
    lock_confidence: float = 0.9
    # frames between identity readouts of one track (a readout: two descriptors, ≈260 ms)
    identity_every: int = 50


@dataclass
class Track:
    """One face followed through the video (mutable tracker state, not a stage output)."""

    id: int
    face: Face
    velocity: np.ndarray  # per-frame displacement of the landmarks
    box_offset: np.ndarray  # detector box relative to the landmark frame (see _box_from)
    misses: int = 0
    frames: int = 0
    female_votes: list[float] = field(default_factory=list)
    held: Verdict | None = None
    identity_at: int | None = None  # frame number of the last identity readout

    def predicted_landmarks(self) -> np.ndarray:
        return self.face.landmarks + self.velocity


class FaceTracker:
    """Turns per-frame detections into tracked `Face`s (with `track_id`) and held verdicts."""

    def __init__(
        self,
        detector: FaceDetector,
        landmarker: Landmarker,
        config: TrackerConfig = TrackerConfig(),
    ) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.config = config
        self.tracks: list[Track] = []
        self.frame_number = -1
        self._next_id = 1

    def update(
        self,
        frame: np.ndarray,
        timer: StageTimer | None = None,
        found: Found | None = None,
        upcoming: Found | None = None,
    ) -> list[Face]:
        """Advance one frame and return every face to transform in it. `found`: this frame's
        detections computed ahead (used on detection frames, i.e. every `detect_every`-th);
        `upcoming`: on the frames between, the next detection frame's, if known."""
        timer = timer or StageTimer()
        self.frame_number += 1
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self.frame_number % self.config.detect_every == 0:
            detections = detections_of(self.detector, frame, timer, found)
            with timer("landmarks"):
                self._associate(gray, detections)
        else:
            with timer("landmarks"):
                for track in self.tracks:
                    self._follow(gray, track)
                if upcoming is not None:
                    self._start_upcoming(gray, upcoming.detections)
        return [t.face for t in self.tracks]

    def _start_upcoming(self, gray: np.ndarray, detections: Sequence[Detection]) -> None:
        """Start tracks now for the next detection frame's faces that no track follows (the
        detector will confirm them there, by overlap, like any other track)."""
        for detection in detections:
            if all(detection.box.iou(t.face.box) < self.config.min_iou for t in self.tracks):
                self._start(gray, detection.box, detection.score)

    def _associate(self, gray: np.ndarray, detections) -> None:
        predicted = [_box_from(t.predicted_landmarks(), t.box_offset) for t in self.tracks]
        matched_tracks: set[int] = set()
        matched_detections: set[int] = set()
        if predicted and detections:
            cost = np.array([[1.0 - p.iou(d.box) for d in detections] for p in predicted])
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if 1.0 - cost[r, c] >= self.config.min_iou:
                    self._refresh(gray, self.tracks[r], detections[c].box, detections[c].score)
                    matched_tracks.add(r)
                    matched_detections.add(c)
        survivors = []
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.misses += 1
                if track.misses > self.config.max_misses:
                    continue
                self._follow(gray, track)
            survivors.append(track)
        confirmed = [t for t in survivors if t.misses == 0]
        # A coasting track that has slid onto a confirmed face would cover it twice: drop it.
        self.tracks = [
            t
            for t in survivors
            if t.misses == 0 or all(t.face.box.iou(c.face.box) < 0.5 for c in confirmed)
        ]
        for j, detection in enumerate(detections):
            if j not in matched_detections:
                self._start(gray, detection.box, detection.score)

    def _start(self, gray: np.ndarray, box: Box, score: float) -> None:
        points = self.landmarker.fit(gray, box)
        face = Face(box=box, landmarks=points, score=score, track_id=self._next_id)
        self.tracks.append(
            Track(
                id=self._next_id,
                face=face,
                velocity=np.zeros_like(points),
                box_offset=_offset(box, points),
            )
        )
        self._next_id += 1

    def _refresh(self, gray: np.ndarray, track: Track, box: Box, score: float) -> None:
        points = self.landmarker.fit(gray, box)
        self._move(track, points, box, score)
        track.box_offset = _offset(box, points)
        track.misses = 0

    def _follow(self, gray: np.ndarray, track: Track) -> None:
        """Re-fit landmarks inside the box the track predicts (no detector)."""
        box = _box_from(track.predicted_landmarks(), track.box_offset)
        points = self.landmarker.fit(gray, box)
        self._move(track, points, _box_from(points, track.box_offset), track.face.score)

    @staticmethod
    def _move(track: Track, points: np.ndarray, box: Box, score: float) -> None:
        step = points - track.face.landmarks
        track.velocity = 0.5 * track.velocity + 0.5 * step
        track.face = Face(box=box, landmarks=points, score=score, track_id=track.id)
        track.frames += 1

    def identity_due(self, face: Face) -> bool:
        """Whether this frame should measure the face's identity similarity (once its verdict
        is held, then every `identity_every` frames)."""
        track = self._track_of(face)
        if track is None or track.held is None:
            return False
        due = track.identity_at is None or (
            self.frame_number - track.identity_at >= self.config.identity_every
        )
        if due:
            track.identity_at = self.frame_number
        return due

    def held(self, face: Face) -> Verdict | None:
        """The track's decided verdict (so the classifier can skip this face), if any."""
        track = self._track_of(face)
        return track.held if track is not None else None

    def decide(self, face: Face, found: Verdict) -> Verdict:
        """Count this frame's verdict towards the track's vote; return the running result."""
        track = self._track_of(face)
        return found if track is None else self._vote(track, found)

    def _track_of(self, face: Face) -> Track | None:
        if face.track_id is None:
            return None
        return next((t for t in self.tracks if t.id == face.track_id), None)

    def _vote(self, track: Track, verdict: Verdict) -> Verdict:
        if track.held is not None:
            return track.held
        p_female = verdict.confidence if verdict.gender is Gender.FEMALE else 1 - verdict.confidence
        track.female_votes.append(p_female)
        mean = float(np.mean(track.female_votes))
        current = Verdict(Gender.FEMALE if mean >= 0.5 else Gender.MALE, max(mean, 1 - mean))
        enough = len(track.female_votes) >= self.config.vote_frames
        sure = len(track.female_votes) >= 2 and current.confidence >= self.config.lock_confidence
        if enough or sure:
            track.held = current
        return current


def _offset(box: Box, points: np.ndarray) -> np.ndarray:
    """The box's corners in a frame centred on the landmarks and scaled by their spread."""
    centre, scale = _frame_of(points)
    return (np.array([[box.left, box.top], [box.right, box.bottom]]) - centre) / scale


def _box_from(points: np.ndarray, offset: np.ndarray) -> Box:
    centre, scale = _frame_of(points)
    (left, top), (right, bottom) = offset * scale + centre
    return Box(float(left), float(top), float(right), float(bottom))


def _frame_of(points: np.ndarray) -> tuple[np.ndarray, float]:
    centre = points.mean(axis=0)
    scale = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean())) or 1.0
    return centre, scale
