"""Build a `FacePipeline` from command-line settings (the only place models get loaded)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from pipeline.classify import load_classifier
from pipeline.detect import DEFAULT_KIND, KEEP_MARGIN, DetectorConfig, FaceDetector
from pipeline.device import device_kind
from pipeline.facepipeline import FacePipeline, PipelineOptions
from pipeline.identity_worker import BackgroundIdentity
from pipeline.landmarks import Landmarker
from pipeline.second_opinion import with_second_opinion
from pipeline.similarity import IdentityEncoder
from pipeline.swap import LatentChoices, load_swapper
from pipeline.track import TrackerConfig

# `video` without --min-face: faces from 1/15 of the short side (24 px at 640×360, 72 px at
# 1920×1080); CenterFace then scans a 16:9 frame of any size at about 380×210 pixels.
STREAM_MIN_FACE_FRACTION = 1 / 15
# `webcam` without --min-face: the people at the camera, from 1/10 of the short side (48 px
# at 640×480), every frame (a camera cannot be read ahead).
WEBCAM_MIN_FACE_FRACTION = 1 / 10
# Detection every 4th frame for recorded files: faces are tracked in between, and the next
# detection frame's faces are known ahead, so a face that walks in is covered from its first
# frame all the same (640×360 one-face clip: 15 fps detecting every frame, 36 fps every 4th).
# Live sources and CCTV archives detect every frame: a camera cannot be read ahead, and an
# archive's passers-by may show for a few frames only.
VIDEO_DETECT_EVERY = 4
# Seconds of face work one frame may take before its remaining faces are covered instead of
# swapped (largest faces are swapped first): a frame never stalls a stream, whatever it holds.
# A recorded file or archive can afford more than a live view, where latency is the product.
FILE_FRAME_LIMIT = 2.0
LIVE_FRAME_LIMIT = 0.5
# What becomes of a photo in which no face was found (`--no-face`): covered whole, or kept as it
# was. `image` covers: its photos are of people, and such a photo is likelier a face the
# detector missed (1 of 2,154 held-out CelebA photos) than a landscape. `batch` keeps: a CCTV
# archive's stills are mostly of empty scenes, which a cover would make useless.
NO_FACE_CHOICES = ("cover", "keep")
IMAGE_NO_FACE = "cover"
BATCH_NO_FACE = "keep"


@dataclass(frozen=True)
class RunSettings:
    """Everything the CLI's common options decide about the face work."""

    mode: str = "swap"
    strength: float | None = None
    identity_pull: float | None = None  # latent swapper; None: its calibrated value
    identity_mode: str | None = None  # latent swapper: pull, k-same or dp; None: calibrated
    k: int | None = None  # k-same: faces averaged; None: calibrated
    epsilon: float | None = None  # dp: privacy budget per face; None: calibrated
    paint_limit: float | None = None  # latent swapper: most darkening painted; None: no limit
    detail: str | None = None  # latent swapper: "own" or "model" fine detail; None: "model"
    device: str = "auto"
    swapper: str = "latent"
    weights_dir: Path | None = None  # the swapper's weights; None: the shipped ones
    detector: str = DEFAULT_KIND
    min_face: int | None = None
    # Without --min-face, the smallest face is this share of the frame's short side: 1/20 for
    # photos and CCTV (thorough), 1/8 for `video` (a 640×360 frame is scanned at 1.8× instead
    # of 4×), 1/6 for `webcam`: see README, "Measured speed and accuracy".
    min_face_fraction: float = 1 / 20
    identity: bool = True
    detect_every: int = 1  # video: run the detector on every k-th frame, track in between
    detect_threads: int | None = None  # video: detector threads (None: as many as pay off)
    frame_limit: float | None = None  # seconds of face work per frame (None: no limit)
    # photos (`image`, `batch`): one in which no face was found is written out "keep"
    # unchanged or "cover"ed whole (see `imagejob.run_images`)
    no_face: str = "keep"

    def as_report(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["weights_dir"] = str(self.weights_dir) if self.weights_dir else None
        return fields


def build_pipeline(
    settings: RunSettings, video: bool = False, identity_worker: bool = False
) -> FacePipeline:
    """Load the models the settings need (once) and wire them into a pipeline; `video` adds
    the tracker (held verdicts, covered misses, identity per track on a schedule);
    `identity_worker` (with `video`) moves the identity readouts into a worker process, so
    they never stall the frame loop (one process a pipeline: not for batch workers)."""
    # One BLAS thread for this process: the face work's matrix products are small and run
    # beside detector and codec threads, which OpenBLAS's own threads would only fight for
    # the cores (one face's texture code, 2 cores busy: 0.4 ms on one thread, 8 ms on two).
    threadpool_limits(1, user_api="blas")
    landmarker = Landmarker()
    detector = FaceDetector(
        DetectorConfig(
            kind=settings.detector,
            min_face=settings.min_face,
            min_face_fraction=settings.min_face_fraction,
            gpu=device_kind(settings.device) == "cuda",
            second_look=not video,  # photos: a second, finer look where none was found
            keep_margin=KEEP_MARGIN if video else 0.0,  # video: less sure faces keep tracks
        )
    )
    classifier = swapper = None
    if settings.mode == "swap":
        # video: one thread, beside the detector's and the codecs' (as torch_threads does)
        classifier = load_classifier(device=settings.device, threads=1 if video else None)
        # a second opinion on the faces the network is unsure of; video loads its describer
        # now, so that no frame waits for it
        classifier = with_second_opinion(classifier, load_now=video)
        choices = LatentChoices(
            settings.identity_pull,
            settings.identity_mode,
            settings.k,
            settings.epsilon,
            settings.paint_limit,
            settings.detail,
        )
        swapper = load_swapper(settings.swapper, settings.weights_dir, settings.device, choices)
    encoder: IdentityEncoder | BackgroundIdentity | None = None
    if settings.identity and settings.mode == "swap":
        encoder = BackgroundIdentity() if video and identity_worker else IdentityEncoder(landmarker)
    options = PipelineOptions(
        mode=settings.mode,
        strength=settings.strength,
        identity=encoder is not None,
        frame_limit=settings.frame_limit,
    )
    tracking = TrackerConfig(detect_every=settings.detect_every) if video else None
    return FacePipeline(detector, landmarker, classifier, swapper, options, encoder, tracking)


def identity_entry(pipeline: FacePipeline) -> dict[str, Any]:
    """The identity replacement the pipeline's swapper applies (mode and its k or ε) and
    where its fine detail comes from ("own" or "model"), for reports; empty when there is
    none (blur mode, other backends)."""
    swapper = getattr(pipeline, "swapper", None)
    identity = getattr(swapper, "identity", None)
    if identity is None:
        return {}
    return {"identity": identity.as_report(), "detail": swapper.detail}


def identity_label(pipeline: FacePipeline) -> str | None:
    """The same, as one short line for the readout."""
    identity = getattr(getattr(pipeline, "swapper", None), "identity", None)
    return identity.label if identity is not None else None
