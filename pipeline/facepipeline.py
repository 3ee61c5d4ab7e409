"""`FacePipeline`: wires the stages together for one frame; it holds no face logic of its own."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from .align import (
    DEFAULT_SIZE,
    alignment_for,
    alignment_problem,
    crop_at,
    crop_size_for,
    warp_to_crop,
)
from .blend import hull_mask, paste_back
from .classify import Classifier
from .detect import FaceDetector
from .landmarks import Landmarker, implausibility
from .obscure import obscure
from .prefetch import Found, detections_of
from .similarity import IdentityEncoder, IdentityReadout, InlineIdentity, pixel_similarity
from .swap import Swapper
from .timing import StageTimer
from .track import FaceTracker, TrackerConfig
from .types import (
    Action,
    AlignedCrop,
    Box,
    Face,
    FaceOutcome,
    FrameResult,
    Similarity,
    SwapResult,
    Verdict,
)

log = logging.getLogger(__name__)

MODES = ("swap", "blur")
OVER_LIMIT = "frame time limit"


class VerdictPolicy(Protocol):
    """Decides the verdict each face is swapped with. A tracker holds one per track, so a
    face whose verdict is held needs no classifier run at all."""

    def held(self, face: Face) -> Verdict | None:
        """The verdict already decided for this face, or None to classify it."""
        ...

    def decide(self, face: Face, found: Verdict) -> Verdict:
        """The verdict to use, given what the classifier found in this frame."""
        ...


@dataclass(frozen=True)
class PipelineOptions:
    """`mode`: swap or blur; `strength`: swap strength (None: the swapper's default);
    `crop_size`: the aligned crop's largest side (a smaller face gets a smaller crop, see
    `align.crop_size_for`); `identity`: compute identity similarity per face;
    `frame_limit`: seconds of face work a frame may take (None: no limit); faces not yet
    swapped when it runs out are covered instead, largest faces being swapped first."""

    mode: str = "swap"
    strength: float | None = None
    crop_size: int = DEFAULT_SIZE
    identity: bool = True
    frame_limit: float | None = None


class FacePipeline:
    """Detect → landmarks → align → classify → swap → blend → similarity, per frame.

    Every face found is either swapped or, when it cannot be (too small, implausible
    landmarks, a failing model, or blur mode), covered irreversibly: privacy fails closed.
    """

    def __init__(
        self,
        detector: FaceDetector,
        landmarker: Landmarker,
        classifier: Classifier | None,
        swapper: Swapper | None,
        options: PipelineOptions = PipelineOptions(),
        encoder: IdentityEncoder | IdentityReadout | None = None,
        tracking: TrackerConfig | None = None,
    ) -> None:
        """`encoder` measures identity: an `IdentityEncoder` inline, or any `IdentityReadout`
        (a worker process whose figures join each track's next frame needs tracking)."""
        if options.mode not in MODES:
            raise ValueError(f"unknown mode {options.mode!r}")
        if options.mode == "swap" and (classifier is None or swapper is None):
            raise ValueError("swap mode needs a classifier and a swapper")
        if isinstance(encoder, IdentityEncoder):
            encoder = InlineIdentity(encoder)
        if encoder is not None and encoder.needs_tracks and tracking is None:
            raise ValueError("background identity readouts follow tracks: tracking needed")
        self.detector = detector
        self.landmarker = landmarker
        self.classifier = classifier
        self.swapper = swapper
        self.options = options
        self.identity: IdentityReadout | None = encoder if options.identity else None
        self.tracker = FaceTracker(detector, landmarker, tracking) if tracking else None
        # Per-run salt for the seeds of tracked faces: a track draws the same random numbers
        # in every frame (no flicker), but no two runs or tracks draw the same.
        self._salt = secrets.randbits(63)

    @property
    def detect_every(self) -> int:
        """On which frames the detector runs: every N-th (tracking), else every frame."""
        return self.tracker.config.detect_every if self.tracker else 1

    def find_faces(
        self, frame: np.ndarray, timer: StageTimer, found: Found | None = None
    ) -> list[Face]:
        """Detection (unless `found` brings it) and landmarks for every face in the frame;
        only sure detections (a less sure one only keeps a face a tracker follows)."""
        detections = [d for d in detections_of(self.detector, frame, timer, found) if d.sure]
        with timer("landmarks"):
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            return [Face.found(d, self.landmarker.fit(gray, d.box)) for d in detections]

    def process(
        self, frame: np.ndarray, found: Found | None = None, upcoming: Found | None = None
    ) -> FrameResult:
        """Anonymize every face in a BGR frame; the input array is not modified.

        With tracking (video), faces are followed between frames: verdicts are held per track
        and identity is measured per track on a schedule; without it, each frame stands alone.
        `found`: this frame's detections, computed ahead (see `prefetch.DetectAhead`);
        `upcoming`: between detection frames, the next one's (tracking only).
        """
        timer = StageTimer()
        if self.tracker is None:
            return self.process_faces(frame, self.find_faces(frame, timer, found), timer=timer)
        faces = self.tracker.update(frame, timer, found, upcoming)
        if self.identity is not None:
            self.identity.forget_except({f.track_id for f in faces if f.track_id is not None})
        return self.process_faces(
            frame,
            faces,
            timer=timer,
            policy=self.tracker,
            identity_for=self.tracker.identity_due,
            cover_reason=self.tracker.cover_reason,
        )

    def process_faces(
        self,
        frame: np.ndarray,
        faces: Sequence[Face],
        *,
        timer: StageTimer | None = None,
        policy: VerdictPolicy | None = None,
        identity_for: Callable[[Face], bool] | None = None,
        cover_reason: Callable[[Face], str | None] | None = None,
    ) -> FrameResult:
        """Transform already located faces. `policy` may hold or override the classifier's
        verdicts (a tracker holding each track's decision does this); `identity_for` picks the
        faces whose identity similarity is measured (default: all, if an encoder is set);
        `cover_reason` (a tracker's) names faces that must be covered whatever they look like
        and judges their pose over frames; without it, each face's pose is judged alone."""
        timer = timer or StageTimer()
        started = time.perf_counter()
        limit = self.options.frame_limit
        deadline = None if limit is None else started + limit
        output = frame.copy()
        height, width = frame.shape[:2]
        outcomes: dict[int, FaceOutcome] = {}
        to_swap: list[int] = []
        crops: list[AlignedCrop] = []
        for i in sorted(range(len(faces)), key=lambda i: -faces[i].box.area):
            face = faces[i]
            reason = self._cover_reason(face, cover_reason, deadline)
            if reason is None:
                size = crop_size_for(face.landmarks, self.options.crop_size)
                alignment = alignment_for(face.landmarks, size)
                reason = alignment_problem(alignment, height, width)
            if reason is not None:
                outcomes[i] = FaceOutcome(face=face, action=Action.BLURRED, reason=reason)
                continue
            with timer("align"):
                crops.append(crop_at(frame, face.landmarks, alignment))
            to_swap.append(i)

        if to_swap:
            swapped_faces = [faces[i] for i in to_swap]
            try:
                results = self._swap(
                    swapped_faces, crops, output, timer, policy, identity_for, deadline
                )
            except Exception as error:  # any model failure must still hide the faces
                log.warning("swap failed, covering %d face(s): %s", len(to_swap), error)
                results = [
                    FaceOutcome(face=f, action=Action.BLURRED, reason=f"swap failed: {error}")
                    for f in swapped_faces
                ]
            outcomes.update(zip(to_swap, results, strict=True))

        with timer("obscure"):
            for outcome in outcomes.values():
                if outcome.action is Action.BLURRED:
                    obscure(output, cover_box(outcome.face))
        ordered = tuple(outcomes[i] for i in range(len(faces)))
        return FrameResult(
            image=output,
            faces=ordered,
            timings=dict(timer.seconds),
            seconds=time.perf_counter() - started,
            over_limit=any(o.reason == OVER_LIMIT for o in ordered),
        )

    def _cover_reason(
        self,
        face: Face,
        cover_reason: Callable[[Face], str | None] | None,
        deadline: float | None,
    ) -> str | None:
        """Why this face is covered rather than swapped, before any work on it; None: swap."""
        if self.options.mode == "blur":
            return "blur mode"
        if deadline is not None and time.perf_counter() > deadline:
            return OVER_LIMIT
        if cover_reason is None:
            return implausibility(face.landmarks, face.box, points=face.points)
        # a tracker judges the pose itself, held over frames (see `FaceTracker.cover_reason`)
        return cover_reason(face) or implausibility(face.landmarks, face.box, max_yaw=None)

    def _swap(
        self,
        faces: Sequence[Face],
        crops: Sequence[AlignedCrop],
        output: np.ndarray,
        timer: StageTimer,
        policy: VerdictPolicy | None,
        identity_for: Callable[[Face], bool] | None,
        deadline: float | None = None,
    ) -> list[FaceOutcome]:
        assert self.swapper is not None
        with timer("classify"):
            found = self._verdicts(faces, crops, policy)
        with timer("swap"):
            seeds = [self._seed(face) for face in faces]
            genders = [v.gender for v in found]
            swapped = self.swapper.swap(crops, genders, self.options.strength, seeds)
        outcomes = []
        for face, crop, new, verdict in zip(faces, crops, swapped, found, strict=True):
            if deadline is not None and time.perf_counter() > deadline:
                outcomes.append(FaceOutcome(face=face, action=Action.BLURRED, reason=OVER_LIMIT))
                continue
            with timer("blend"):
                mask = new.mask
                if mask is None:
                    points = np.concatenate([crop.landmarks, new.landmarks])
                    mask = hull_mask(points, crop.alignment.size)
                paste_back(output, new.image, crop.image, crop.alignment, mask)
            with timer("similarity"):
                # Measure what a viewer gets: the face as it now stands in the output frame.
                final = warp_to_crop(output, crop.alignment)
                wanted = identity_for is None or identity_for(face)
                figures = self._similarity(face, crop, final, wanted)
            result = SwapResult(crop=final, mask=mask, similarity=figures)
            outcomes.append(
                FaceOutcome(face=face, action=Action.SWAPPED, verdict=verdict, result=result)
            )
        return outcomes

    def _seed(self, face: Face) -> int | None:
        """A tracked face's random seed, the same in every frame of this run; None untracked."""
        if face.track_id is None:
            return None
        return int(np.random.SeedSequence([self._salt, face.track_id]).generate_state(1)[0])

    def _similarity(
        self, face: Face, crop: AlignedCrop, final: np.ndarray, wanted: bool
    ) -> Similarity:
        """Pixel similarity now; identity figures from the readout, when it has them."""
        figures = Similarity(pixel=pixel_similarity(crop.image, final))
        if self.identity is None:
            return figures
        return self.identity.measure(face, crop, final, figures, wanted)

    def close(self) -> None:
        """Stop the identity readouts (a worker process, if any); the pipeline still swaps."""
        if self.identity is not None:
            self.identity.close()
            self.identity = None

    def _verdicts(
        self, faces: Sequence[Face], crops: Sequence[AlignedCrop], policy: VerdictPolicy | None
    ) -> list[Verdict]:
        """Held verdicts where the policy has them; the classifier, batched, for the rest."""
        assert self.classifier is not None
        verdicts = [policy.held(face) if policy else None for face in faces]
        todo = [i for i, verdict in enumerate(verdicts) if verdict is None]
        if todo:
            found = self.classifier.classify([crops[i] for i in todo])
            for i, verdict in zip(todo, found, strict=True):
                verdicts[i] = policy.decide(faces[i], verdict) if policy else verdict
        return [v for v in verdicts if v is not None]


def cover_box(face: Face) -> Box:
    """The region a fail-closed cover must hide: the detector box joined with the landmarks
    (those within twice the box's size: a runaway fit must not blank the whole frame)."""
    b = face.box
    reach = b.expanded(2.0)
    points = np.clip(face.landmarks, [reach.left, reach.top], [reach.right, reach.bottom])
    around = Box.around(points)
    return Box(
        min(b.left, around.left),
        min(b.top, around.top),
        max(b.right, around.right),
        max(b.bottom, around.bottom),
    )
