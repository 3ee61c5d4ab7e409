"""Temporal consistency for video: face tracks, held gender verdicts, coverage of misses.

Each face gets a track id. On detection frames (every `detect_every`-th frame) detections are
matched to tracks by box overlap (optimal assignment): sure detections first, then less sure ones
(see `DetectorConfig.keep_margin`), which keep a track but never start one. In between, and
whenever the detector misses a face its track still predicts, the track follows the image, so the
face stays covered for `max_misses` detection rounds rather than flashing raw: swapped while the
detector saw it at its last look, blurred once it did not (a head turned away: swapped, it got a
face painted on the back of the head). Between detection frames, the next detection frame's faces
(when the caller has them: a recorded file is read ahead) that no track follows yet start their
tracks at once, so a face that walks in is covered from the first frame, not from the next
detection. A track's gender is voted over its first detection frames (its first frame, then one
vote per detection frame: spread-out frames disagree more usefully than consecutive ones, and a
frame's new votes share one classifier call) and then held, so a face never changes direction
mid-clip.

Between confirmations a track moves with the image: its landmarks are followed from the previous
frame by pyramidal Lucas-Kanade optical flow (one call per frame for all tracks) and the box moves
by their median motion, capped at a fraction of the box's size per frame. The landmarks are then
re-fitted (keeping the flow-moved landmarks instead would save the fits of three frames in four,
but left a doubled lip line on a talking head) in a box that keeps the size of the detector's last
box, so a fit that spreads cannot feed on itself; a face covered whatever its landmarks say until
the detector's next look (not confirmed at its last look, ended by a cut, or seen in profile) keeps
the flow-moved ones. A track whose flow fails (the face left, or was covered) while the detector
did not see it at its last look (a dim, blurred face fails the flow in every frame), whose box
leaves the frame, or whose fit spreads or shrinks beyond `max_spread` times the confirmed one, is
*lost*: it stops moving and its last region is covered (never swapped) until the detector has
looked there `lost_misses` more times without finding a face (or finds it again). A lost track is
usually a face that left or a cut to another shot: covering the spot for the full `max_misses` left
blurred blobs on empty scenery for two seconds (hamilton clip: 631 covered lost-track faces against
789 swaps); a face still there is found again by the next detection, which CenterFace makes likely.

A hard cut to another shot (the frame's 32×18 thumbnail changes by more than `cut_change` grey
levels on average) ends every track: it is never matched to a detection or swapped again, only
covered, until it is dropped. Otherwise the flow and the box overlap carry a track across the
cut onto whatever stands there in the new shot: a face pasted on the back of a head, or a woman
swapped by the held verdict of the man who stood in her place (both seen on the hamilton clip).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .detect import FaceDetector
from .landmarks import MAX_YAW, TURNED, Landmarker, profile_by_points, yaw_degrees
from .prefetch import Found, detections_of
from .timing import StageTimer
from .types import Box, Detection, Face, Gender, Verdict


@dataclass(frozen=True)
class TrackerConfig:
    """`detect_every`: run the detector on every k-th frame; `max_misses`: detection rounds a
    track is kept (and its face covered) after the detector last confirmed it; `vote_frames`:
    votes (one a detection frame) that decide a track's gender; `lock_confidence`: decide early
    once sure."""

    detect_every: int = 1
    max_misses: int = 15
    lost_misses: int = 2  # detection rounds a lost track stays covered without the detector
    min_iou: float = 0.2
    vote_frames: int = 5
    lock_confidence: float = 0.9
    # frames between identity readouts of one track (a readout: two fits, two descriptors)
    identity_every: int = 50
    # Bounds of a track between confirmations (see the module docstring).
    max_step: float = 0.5  # per-frame motion, as a share of the confirmed box's width
    max_spread: float = 1.6  # landmark spread against the confirmed fit, either way
    min_inside: float = 0.5  # share of the box that must lie inside the frame
    min_flow: float = 0.5  # share of a track's landmarks the optical flow must follow
    # A shot cut: the mean grey-level change between two frames' 32×18 thumbnails (0-255).
    # Hamilton's three hard cuts change by 26-30, its fades and fast moves by at most 12.6;
    # a talking head by at most 9.7, a slow zoom, a CCTV view and the sample clip by 2.1.
    cut_change: float = 20.0


LOST = "track lost (left the frame, lost by the flow, or fit spread)"
CUT = "track ended at a shot cut"
UNSEEN = "track not confirmed by the detector (face turned away, hidden or gone)"
THUMBNAIL = (32, 18)  # width, height of the frame thumbnails compared for shot cuts
# The landmarks the optical flow follows (the move is their median): brows, eyes, nose and
# mouth, and three of the jaw line's seventeen, which sit on the edge against a background that
# moves otherwise. Hamilton's flow took 2.9 ms a frame with all 68, 1.5 with these twenty, with
# the same 31 switches between swap and cover and no face left raw (README).
FLOW_POINTS = np.array(
    [19, 24, 27, 30, 31, 35, 36, 39, 42, 45, 48, 51, 54, 57, 2, 14, 8, 21, 22, 33]
)
# A track's yaw is the median of its last YAW_FRAMES frames' estimates (one frame's swings by
# 10 degrees and more on a dim three-quarter face); covered beyond MAX_YAW, swapped again below
# MAX_YAW - YAW_HYSTERESIS; a single frame beyond MAX_YAW + YAW_JUMP is covered at once.
YAW_FRAMES = 5
YAW_HYSTERESIS = 5.0
YAW_JUMP = 15.0


@dataclass
class Track:
    """One face followed through the video (mutable tracker state, not a stage output)."""

    id: int
    face: Face
    anchor: Box  # the detector's last box for this face
    anchor_offset: np.ndarray  # that box's centre minus the landmarks' centre, when confirmed
    spread: float  # the landmarks' spread when confirmed (see _frame_of)
    misses: int = 0
    lost: bool = False
    ended: bool = False  # by a shot cut: covered, never swapped or matched to a face again
    profile: bool = False  # the detector's five points saw a profile when it last confirmed it
    turned: bool = False  # covered as turned by its landmarks' yaw (see `_hold_pose`)
    yaws: deque[float] = field(default_factory=lambda: deque(maxlen=YAW_FRAMES))
    female_votes: list[float] = field(default_factory=list)
    held: Verdict | None = None
    running: Verdict | None = None  # the vote so far, until `held` is decided
    identity_at: int | None = None  # frame number of the last identity readout

    def moved(self, step: np.ndarray) -> None:
        """Shift the face by `step` pixels (its box keeps the detector's box size)."""
        points = (self.face.landmarks + step).astype(np.float32)
        centre, _ = _frame_of(points)
        box = _box_at(centre + self.anchor_offset, self.anchor)
        self.face = Face(box=box, landmarks=points, score=self.face.score, track_id=self.id)


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
        self._frame_box = Box(0, 0, 0, 0)
        self._previous: np.ndarray | None = None  # the last frame, gray, for the optical flow
        self._thumbnail: np.ndarray | None = None  # the last frame, small, for shot cuts

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
        self._frame_box = Box(0, 0, frame.shape[1], frame.shape[0])
        with timer("track"):
            if self._shot_cut(gray):
                self._end_all()
            self._flow(gray)
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
        for track in self.tracks:
            self._hold_pose(track)
        self._previous = gray
        return [t.face for t in self.tracks]

    def _shot_cut(self, gray: np.ndarray) -> bool:
        """Whether this frame starts a new shot: its thumbnail differs from the last one's by
        more than `cut_change` grey levels on average."""
        thumbnail = cv2.resize(gray, THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float32)
        previous, self._thumbnail = self._thumbnail, thumbnail
        if previous is None or previous.shape != thumbnail.shape:
            return False
        return float(np.abs(thumbnail - previous).mean()) > self.config.cut_change

    def _end_all(self) -> None:
        """A shot cut: the faces tracked so far are gone, or are other people now. Their tracks
        are never matched to a detection again, so a face in the new shot starts a track of
        its own, with its own gender vote, however its box overlaps an old one; and never
        swapped again, only covered. They keep following the image, and are dropped as any
        track is (missed too often, or lost), or as soon as a new track is confirmed on them:
        where the detector misses a face of the new shot that an old track has slid onto, the
        cover stays (measured: hamilton with dlib's HOG left 19 of 44 faces raw when the cut
        froze the old tracks, 7 of 44 as before with them following)."""
        for track in self.tracks:
            track.ended = True

    def _flow(self, gray: np.ndarray) -> None:
        """Move every live track with the image, by the median optical flow of its landmarks
        from the previous frame; a track whose landmarks the flow mostly loses is lost."""
        live = [t for t in self.tracks if not t.lost]
        if self._previous is None or not live or self._previous.shape != gray.shape:
            return
        points = np.concatenate([t.face.landmarks[FLOW_POINTS] for t in live]).reshape(-1, 1, 2)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            self._previous,
            gray,
            points.astype(np.float32),
            None,
            winSize=(15, 15),
            maxLevel=3,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
        )
        steps = (moved - points).reshape(len(live), -1, 2)
        good = status.reshape(len(live), -1).astype(bool)
        for track, step, ok in zip(live, steps, good, strict=True):
            if ok.mean() < self.config.min_flow and (track.misses or track.ended):
                self._lose(track)
                continue
            # A face the detector saw at its last look stays where the flow's few good points
            # (if any) put it, to be re-fitted: on a dim, blurred face the flow fails on most
            # points in every frame, and losing it there covered it three frames in four.
            shift = np.median(step[ok], axis=0) if ok.any() else np.zeros(2, np.float32)
            track.moved(self._capped(shift, track.anchor))

    def _start_upcoming(self, gray: np.ndarray, detections: Sequence[Detection]) -> None:
        """Start tracks now for the next detection frame's faces that no track follows (the
        detector will confirm them there, by overlap, like any other track)."""
        for detection in detections:
            if not detection.sure:
                continue
            if all(detection.box.iou(t.face.box) < self.config.min_iou for t in self.tracks):
                self._start(gray, detection)

    def _associate(self, gray: np.ndarray, detections: Sequence[Detection]) -> None:
        """Match this detection frame's detections to the open tracks: sure detections first
        (any left over start new tracks), then the less sure ones, which only keep a track the
        sure ones did not (a face turning or dimming scores lower before it is gone)."""
        open_tracks = [i for i, t in enumerate(self.tracks) if not t.ended]
        sure = [d for d in detections if d.sure]
        matched_tracks, matched_detections = self._match(gray, open_tracks, sure)
        unsure = [d for d in detections if not d.sure]
        rest = [i for i in open_tracks if i not in matched_tracks]
        matched_tracks |= self._match(gray, rest, unsure)[0]
        survivors = []
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.misses += 1
                limit = self.config.lost_misses if track.lost else self.config.max_misses
                if track.misses > limit:
                    continue
                self._follow(gray, track)
            survivors.append(track)
        self.tracks = survivors
        for j, detection in enumerate(sure):
            if j not in matched_detections:
                self._start(gray, detection)
        confirmed = [t for t in self.tracks if t.misses == 0]
        # A coasting track that has slid onto a confirmed face would cover it twice: drop it;
        # one a shot cut ended, as soon as it touches a face of the new shot the detector
        # found (the new track covers that face, and swaps it).
        self.tracks = [
            t
            for t in self.tracks
            if t.misses == 0
            or all(t.face.box.iou(c.face.box) < self._overlap_to_drop(t) for c in confirmed)
        ]

    def _match(
        self, gray: np.ndarray, candidates: list[int], detections: Sequence[Detection]
    ) -> tuple[set[int], set[int]]:
        """Refresh the tracks `candidates` (indices) with the detections they overlap best
        (optimal assignment, IoU at least `min_iou`); the tracks refreshed and the indices of
        the detections used."""
        refreshed: set[int] = set()
        used: set[int] = set()
        if not candidates or not detections:
            return refreshed, used
        overlap = np.array(
            [[self.tracks[i].face.box.iou(d.box) for d in detections] for i in candidates]
        )
        for r, c in best_pairs(overlap):
            if overlap[r, c] >= self.config.min_iou:
                self._refresh(gray, self.tracks[candidates[r]], detections[c])
                refreshed.add(candidates[r])
                used.add(c)
        return refreshed, used

    def _overlap_to_drop(self, track: Track) -> float:
        return self.config.min_iou if track.ended else 0.5

    def _start(self, gray: np.ndarray, detection: Detection) -> None:
        box = detection.box
        points = self.landmarker.fit(gray, box)
        centre, spread = _frame_of(points)
        face = Face.found(detection, points, self._next_id)
        self.tracks.append(
            Track(
                id=self._next_id,
                face=face,
                anchor=box,
                anchor_offset=np.array(box.center) - centre,
                spread=spread,
            )
        )
        self._next_id += 1

    def _refresh(self, gray: np.ndarray, track: Track, detection: Detection) -> None:
        """The detector confirmed the track: re-anchor it on the detector's box."""
        box = detection.box
        points = self.landmarker.fit(gray, box)
        centre, spread = _frame_of(points)
        track.anchor, track.anchor_offset, track.spread = box, np.array(box.center) - centre, spread
        track.face = Face.found(detection, points, track.id)
        track.misses, track.lost = 0, False

    def _follow(self, gray: np.ndarray, track: Track) -> None:
        """Re-fit landmarks inside the box the track predicts (no detector), within bounds;
        a track that breaks them is lost and stays where it was, to be covered. A track
        covered until the detector's next look whatever its fit keeps the flow's landmarks."""
        if track.lost:
            return
        box = track.face.box  # where the optical flow took it
        if _inside_share(box, self._frame_box) < self.config.min_inside:
            self._lose(track)
            return
        if track.ended or track.misses or track.profile:
            # covered whatever its landmarks say until the detector's next look (which alone
            # can confirm it, or see it turn back from a profile): the flow alone moves it
            return
        points = self.landmarker.fit(gray, box)
        centre, spread = _frame_of(points)
        ratio = spread / max(track.spread, 1e-6)
        if not 1 / self.config.max_spread <= ratio <= self.config.max_spread:
            self._lose(track)
            return
        moved = _box_at(centre + track.anchor_offset, track.anchor)
        track.face = Face(box=moved, landmarks=points, score=track.face.score, track_id=track.id)

    @staticmethod
    def _hold_pose(track: Track) -> None:
        """Keep a face's pose verdict steady from frame to frame. The detector's five points
        (on the frames where it confirms the track) judge a profile better than the 68
        landmarks, which a profile can fold into a three-quarter view; their verdict holds
        until the detector confirms the track again (applied only on its own frames, it had
        a face swapped three frames in four and covered on the fourth). The landmarks' yaw
        is steadied over frames (see YAW_FRAMES). Measured on hamilton: see the README."""
        if track.lost or track.ended:
            return
        if track.face.points is not None:
            track.profile = profile_by_points(track.face.points)
        yaw = abs(yaw_degrees(track.face.landmarks))
        track.yaws.append(yaw)
        limit = MAX_YAW - YAW_HYSTERESIS if track.turned else MAX_YAW
        track.turned = float(np.median(track.yaws)) > limit or yaw > MAX_YAW + YAW_JUMP

    @staticmethod
    def _lose(track: Track) -> None:
        """Freeze the track where it is; its misses count afresh from here."""
        track.lost, track.misses = True, 0

    def _capped(self, step: np.ndarray, anchor: Box) -> np.ndarray:
        """A per-frame motion no longer than `max_step` of the box's width."""
        limit = self.config.max_step * anchor.width
        length = float(np.hypot(*step))
        return step if length <= limit else step * (limit / length)

    def cover_reason(self, face: Face) -> str | None:
        """Why this tracked face must be covered rather than swapped (a lost track, one a
        shot cut ended, or a head turned too far by its held pose), if so."""
        track = self._track_of(face)
        if track is None:
            return None
        if track.ended:
            return CUT
        if track.lost:
            return LOST
        if track.misses:
            return UNSEEN
        return TURNED if track.profile or track.turned else None

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
        """The track's verdict when the classifier can skip this face: the decided one, or the
        vote so far between detection frames; None: classify it."""
        track = self._track_of(face)
        if track is None:
            return None
        if track.held is not None or self.frame_number % self.config.detect_every == 0:
            return track.held
        return track.running

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
        track.running = current
        enough = len(track.female_votes) >= self.config.vote_frames
        sure = len(track.female_votes) >= 2 and current.confidence >= self.config.lock_confidence
        if enough or sure:
            track.held = current
        return current


def _box_at(centre: np.ndarray, size_of: Box) -> Box:
    """A box of `size_of`'s size centred on `centre`."""
    half_w, half_h = size_of.width / 2, size_of.height / 2
    x, y = float(centre[0]), float(centre[1])
    return Box(x - half_w, y - half_h, x + half_w, y + half_h)


def _inside_share(box: Box, frame: Box) -> float:
    """The share of the box's area that lies inside the frame."""
    inter = Box(
        max(box.left, frame.left),
        max(box.top, frame.top),
        min(box.right, frame.right),
        min(box.bottom, frame.bottom),
    )
    if inter.width <= 0 or inter.height <= 0 or box.area <= 0:
        return 0.0
    return inter.area / box.area


def _frame_of(points: np.ndarray) -> tuple[np.ndarray, float]:
    centre = points.mean(axis=0)
    scale = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean())) or 1.0
    return centre, scale


EXHAUSTIVE_LIMIT = 720  # assignments tried in one group of touching boxes before scipy's solver


def best_pairs(overlap: np.ndarray) -> list[tuple[int, int]]:
    """The (track, detection) pairs of greatest total overlap, one detection a track (the
    assignment problem on IoU), only pairs that overlap. Boxes that overlap nothing else in
    the other set are their own groups; the few that touch each other (people side by side: a
    group of 2-3 tracks) are solved by trying every assignment, which is exact because the
    best total is the sum of each group's best. scipy's solver, whose import costs 0.3-0.6 s
    of a command's start-up, is used only for a group too large to try out (a crowd)."""
    pairs: list[tuple[int, int]] = []
    for rows, cols in touching_groups(overlap > 0):
        block = overlap[np.ix_(rows, cols)]
        pairs += [(rows[r], cols[c]) for r, c in _best_in_group(block)]
    return sorted(pairs)


def touching_groups(touching: np.ndarray) -> list[tuple[list[int], list[int]]]:
    """The connected groups (rows, columns) of a boolean row × column adjacency matrix; rows
    and columns that touch nothing are left out."""
    n_rows = touching.shape[0]
    parent = list(range(n_rows + touching.shape[1]))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for r, c in zip(*np.nonzero(touching), strict=True):
        parent[root(int(r))] = root(n_rows + int(c))
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for r in np.flatnonzero(touching.any(axis=1)):
        groups.setdefault(root(int(r)), ([], []))[0].append(int(r))
    for c in np.flatnonzero(touching.any(axis=0)):
        groups.setdefault(root(n_rows + int(c)), ([], []))[1].append(int(c))
    return list(groups.values())


def _best_in_group(block: np.ndarray) -> list[tuple[int, int]]:
    """The best assignment inside one group of touching boxes, with only overlapping pairs."""
    transposed = block.shape[0] > block.shape[1]
    small = block.T if transposed else block  # rows: the smaller side
    count = math.perm(small.shape[1], small.shape[0])
    if count == 1:
        chosen = [(0, 0)]
    elif count <= EXHAUSTIVE_LIMIT:
        rows = np.arange(small.shape[0])
        best = max(
            itertools.permutations(range(small.shape[1]), small.shape[0]),
            key=lambda cols: small[rows, list(cols)].sum(),
        )
        chosen = list(zip(rows.tolist(), best, strict=True))
    else:
        from scipy.optimize import linear_sum_assignment

        r, c = linear_sum_assignment(-small)
        chosen = list(zip(r.tolist(), c.tolist(), strict=True))
    chosen = [(c, r) if transposed else (r, c) for r, c in chosen]
    return [(r, c) for r, c in chosen if block[r, c] > 0]
