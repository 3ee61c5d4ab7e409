"""The options the face-processing commands share (`image`, `video`, `webcam`, `batch`), and the
logging they set up: one place that `cli` and `batchcli` both import."""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pipeline.detect import KINDS as DETECTORS
from pipeline.device import DEVICES
from pipeline.errors import InputError
from pipeline.facepipeline import MODES
from pipeline.latent.identity import MODES as IDENTITY_MODES
from pipeline.swap import DETAILS, SWAPPERS

from .build import NO_FACE_CHOICES, RunSettings

MIN_FACE_HELP = (
    "Smallest face to find, in pixels (default: 1/20 of the frame's short side for image and "
    "batch, 1/15 for video, 1/10 for webcam; smaller is slower)."
)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every face-processing command shares, gathered into `settings`; `verbose`
    reaches the commands that take it."""
    takes_verbose = "verbose" in inspect.signature(command).parameters

    @click.option(
        "--mode",
        type=click.Choice(MODES),
        default="swap",
        show_default=True,
        help="swap: change each face's gender; blur: cover every face.",
    )
    @click.option(
        "--strength",
        type=float,
        default=None,
        help="Swap strength α (default: the swapper's calibrated value).",
    )
    @click.option(
        "--identity-pull",
        type=click.FloatRange(0, 1),
        default=None,
        help="Latent swapper: how far each face also moves from its own features towards the "
        "average face of its new gender, 0–1 (0: gender change only; default: the value "
        "calibrated with the model, see its card).",
    )
    @click.option(
        "--identity-mode",
        type=click.Choice(IDENTITY_MODES),
        default=None,
        help="Latent swapper: how each face's identity is replaced. pull: towards the average "
        "face of its new gender (--identity-pull); k-same: by the average of the k nearest "
        "gallery faces of that gender (--k); dp: clipped latent code plus Laplace noise, "
        "ε-differential privacy (--epsilon). Default: the calibrated mode, see the model's card.",
    )
    @click.option(
        "--k",
        type=click.IntRange(1, 1000),
        default=None,
        help="k-same: gallery faces averaged into each output (implies --identity-mode k-same).",
    )
    @click.option(
        "--epsilon",
        type=click.FloatRange(0, min_open=True),
        default=None,
        help="dp: privacy budget ε per face (implies --identity-mode dp; README: sensitivity).",
    )
    @click.option(
        "--paint-limit",
        type=click.FloatRange(0),
        default=None,
        help="Latent swapper: the most a swap may darken the eyes' surroundings of a new woman "
        "(make-up) or jaw, chin and upper lip of a new man (stubble), in grey levels 0–255 "
        "(default: no limit; README: what a limit costs).",
    )
    @click.option(
        "--detail",
        type=click.Choice(DETAILS),
        default=None,
        help="Latent swapper: the face's fine detail, what its latent code leaves out. model "
        "(default): taken out, the face is only what its new code describes (a recogniser "
        "matches far fewer faces to the person, but faces look smoother); own: kept (sharper, "
        "less private; README).",
    )
    @click.option(
        "--device",
        type=click.Choice(DEVICES),
        default="auto",
        show_default=True,
        help="Where the neural networks run.",
    )
    @click.option(
        "--swapper",
        type=click.Choice(SWAPPERS),
        default="latent",
        show_default=True,
        help="Gender-swap backend.",
    )
    @click.option(
        "--weights-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Folder with the swapper's weights (default: the shipped ones).",
    )
    @click.option(
        "--detector",
        type=click.Choice(list(DETECTORS)),
        default="centerface",
        show_default=True,
        help="Face detector: CenterFace, a CNN that finds frontal, turned and profile faces "
        "(GPU where ONNX Runtime has CUDA); or dlib's HOG (near-frontal faces only) or MMOD CNN "
        "(slow on a CPU); auto: CenterFace.",
    )
    @click.option(
        "--min-face",
        type=click.IntRange(8, 4096),
        default=None,
        help=MIN_FACE_HELP,
    )
    @click.option("--no-identity", is_flag=True, help="Skip the face-descriptor identity readout.")
    @click.option(
        "--report",
        type=click.Path(path_type=Path),
        default=None,
        help="Write a JSON report (faces, actions, similarity, timings).",
    )
    @click.option("--quiet", is_flag=True, help="Print nothing but errors.")
    @click.option(
        "--verbose",
        is_flag=True,
        help="Also show the libraries' own log lines (FFmpeg, OpenCV, Qt) and, in the webcam "
        "readout, the identity distance and its threshold.",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        mode: str,
        strength: float | None,
        identity_pull: float | None,
        identity_mode: str | None,
        k: int | None,
        epsilon: float | None,
        paint_limit: float | None,
        detail: str | None,
        device: str,
        swapper: str,
        weights_dir: Path | None,
        detector: str,
        min_face: int | None,
        no_identity: bool,
        verbose: bool,
        **kwargs: Any,
    ) -> Any:
        if strength is not None and not 0 <= strength <= 10:
            raise InputError("--strength must be between 0 and 10")
        if verbose and kwargs.get("quiet"):
            raise InputError("--quiet and --verbose contradict each other; choose one")
        settings = RunSettings(
            mode=mode,
            strength=strength,
            identity_pull=identity_pull,
            identity_mode=identity_mode,
            k=k,
            epsilon=epsilon,
            paint_limit=paint_limit,
            detail=detail,
            device=device,
            swapper=swapper,
            weights_dir=weights_dir,
            detector=detector,
            min_face=min_face,
            identity=not no_identity,
        )
        configure_logging(kwargs.get("quiet", False), verbose)
        if takes_verbose:
            kwargs["verbose"] = verbose
        return command(*args, settings=settings, **kwargs)

    return wrapper


def detect_every_option(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--detect-every N` for the commands that track faces through frames."""
    return click.option(
        "--detect-every",
        type=click.IntRange(1, 300),
        default=default,
        show_default=True,
        help="Run the face detector on every N-th frame and track faces in between (faster).",
    )


def frame_limit_option(default: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--frame-limit SECONDS` for the commands that process streams of frames."""
    return click.option(
        "--frame-limit",
        type=click.FloatRange(0.05, 600),
        default=default,
        show_default=True,
        help="Seconds of face work a frame may take; faces left when it runs out are covered "
        "(largest swapped first), so no frame stalls the stream.",
    )


def no_face_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--no-face cover|keep` for the commands that write photos."""
    return click.option(
        "--no-face",
        type=click.Choice(NO_FACE_CHOICES),
        default=default,
        show_default=True,
        help="A photo in which no face was found: cover it whole (a face the detector missed "
        "stays hidden), or keep it, written out unchanged (a missed face shows raw).",
    )


def configure_logging(quiet: bool, verbose: bool = False) -> None:
    """faceanon's own messages by level; the native libraries' lines only when verbose."""
    from .liblogs import configure_library_logs

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("faceanon: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)
    configure_library_logs(verbose)
