"""The `faceanon` command line: parse, build, run, and map failures to one-line errors.

Exit status: 0 done; 2 bad usage or bad input (one `faceanon: error: …` line on stderr);
1 a processing failure; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.device import DEVICES
from pipeline.errors import FaceanonError, InputError

from .batchcli import batch
from .build import (
    FILE_FRAME_LIMIT,
    IMAGE_NO_FACE,
    LIVE_FRAME_LIMIT,
    STREAM_MIN_FACE_FRACTION,
    VIDEO_DETECT_EVERY,
    WEBCAM_MIN_FACE_FRACTION,
    RunSettings,
    build_pipeline,
    identity_entry,
)
from .options import (
    MIN_FACE_HELP,
    common_options,
    detect_every_option,
    frame_limit_option,
    no_face_option,
)

if TYPE_CHECKING:
    from .report import Tally


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="faceanon")
def cli() -> None:
    """Anonymize faces in photos, videos, CCTV clips and webcam feeds by swapping their gender."""


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file, or a folder for several inputs.",
)
@no_face_option(IMAGE_NO_FACE)
@common_options
def image(
    inputs: tuple[Path, ...],
    output: Path,
    no_face: str,
    settings: RunSettings,
    report: Path | None,
    quiet: bool,
) -> None:
    """Anonymize still images (JPEG, PNG, WEBP, BMP, TIFF with every page); animated images
    are refused (use `faceanon video`)."""
    from .imagejob import expand_inputs, plan_outputs, run_images, validate
    from .report import write_report

    settings = replace(settings, no_face=no_face)
    files = expand_inputs(inputs)
    several = len(files) > 1 or any(p.is_dir() for p in inputs)
    pairs = plan_outputs(files, output, several)
    pages = validate(pairs)
    pipeline = build_pipeline(settings)
    totals, records = run_images(pairs, pipeline, quiet, no_face)
    if report:
        described = {**settings.as_report(), **identity_entry(pipeline)}
        write_report(report, "image", described, records, totals)
    if not quiet:
        where = pairs[0][1] if len(pairs) == 1 else output
        in_pages = f" ({pages} pages)" if pages > len(pairs) else ""
        click.echo(
            f"faceanon: {len(pairs)} image(s){in_pages}, {totals.faces} face(s): "
            f"{totals.swapped} swapped, {totals.blurred} blurred → {where}"
        )
        echo_cover_reasons(totals)
        faceless = [r["input"] for r in records if r["pages_without_face"]]
        if faceless:
            click.echo(no_face_note(faceless, covered=no_face == "cover"), err=True)


def echo_cover_reasons(tally: Tally) -> None:
    """Print why faces were covered instead of swapped, most frequent reason first (nothing
    when none was)."""
    if tally.blurred:
        reasons = tally.blur_reasons.most_common()
        click.echo("faceanon: covered: " + ", ".join(f"{n} {reason}" for reason, n in reasons))


def no_face_note(names: list[str], covered: bool, shown: int = 5) -> str:
    """The line naming the images in which no face was found (in a page of them, for
    multi-page files): covered whole, or written out unchanged, where a photo of a person
    whose face the detector missed shows that face raw, so the user should look at them."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    listed = ", ".join(names[:shown]) + more
    if covered:
        return (
            f"faceanon: no face found in {len(names)} image(s), covered whole: {listed} "
            "(--no-face keep writes such images out unchanged)"
        )
    return (
        f"faceanon: no face found in {len(names)} image(s), written out unchanged: {listed} "
        "(check them if they show people; --no-face cover covers such images whole)"
    )


@cli.command()
@click.argument("source", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output video: .mp4, .mkv or .mov (H.264; audio and timing kept, metadata dropped).",
)
@detect_every_option(VIDEO_DETECT_EVERY)
@frame_limit_option(FILE_FRAME_LIMIT)
@common_options
def video(
    source: Path,
    output: Path,
    detect_every: int,
    frame_limit: float,
    settings: RunSettings,
    report: Path | None,
    quiet: bool,
) -> None:
    """Anonymize one recorded video (any format FFmpeg reads)."""
    from .report import write_report
    from .video_io import probe_video
    from .videojob import anonymize_video, check_video_output, video_report

    probe_video(source)
    check_video_output(source, output)
    _check_report(report, source, output)
    settings = replace(
        settings,
        detect_every=detect_every,
        min_face_fraction=STREAM_MIN_FACE_FRACTION,
        frame_limit=frame_limit,
    )
    pipeline = build_pipeline(settings, video=True, identity_worker=True)
    try:
        run = anonymize_video(source, output, pipeline, quiet=quiet)
    finally:
        pipeline.close()
    if report:
        record = video_report(run, source, output)
        described = {**settings.as_report(), **identity_entry(pipeline)}
        write_report(report, "video", described, [record], run.tally)
    if not quiet:
        tally = run.tally
        click.echo(
            f"faceanon: {run.frames} frames, {tally.faces} face(s): {tally.swapped} swapped, "
            f"{tally.blurred} blurred, {run.frames / max(run.seconds, 1e-9):.1f} fps → {output}"
        )
        echo_cover_reasons(tally)


@cli.command()
@click.option(
    "--source",
    default="0",
    show_default=True,
    help="Camera index, /dev/videoN, rtsp:// or http(s):// URL, or a video file.",
)
@click.option("--headless", is_flag=True, help="No preview window (status lines on stderr).")
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Stop after N frames.")
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the anonymized stream to a video (.mp4, .mkv or .mov).",
)
@click.option(
    "--no-realtime",
    is_flag=True,
    help="Read a file source as fast as processing allows, every frame (default: at its own "
    "frame rate, dropping frames processing cannot keep up with).",
)
@detect_every_option(1)
@frame_limit_option(LIVE_FRAME_LIMIT)
@common_options
def webcam(
    source: str,
    headless: bool,
    max_frames: int | None,
    record: Path | None,
    no_realtime: bool,
    detect_every: int,
    frame_limit: float,
    settings: RunSettings,
    report: Path | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Live anonymized preview of a camera or stream (keys: q quit, space pause, o overlay,
    s side by side). Ctrl-C also stops it; a recording is kept."""
    from .camera import check_source
    from .report import write_report
    from .videojob import check_video_output
    from .webcam import run_live

    if not headless and not _has_display():
        raise InputError(
            "no display for the preview window ($DISPLAY is not set); use --headless "
            "(with --record OUT.mp4 to keep the result)"
        )
    check_source(source)
    if record is not None:
        check_video_output(Path(source), record)
    _check_report(report, Path(source), *([record] if record else []))
    settings = replace(
        settings,
        detect_every=detect_every,
        min_face_fraction=WEBCAM_MIN_FACE_FRACTION,
        frame_limit=frame_limit,
    )
    pipeline = build_pipeline(settings, video=True, identity_worker=True)
    try:
        stats = run_live(
            source,
            pipeline,
            headless=headless,
            max_frames=max_frames,
            record=record,
            realtime=not no_realtime,
            quiet=quiet,
            identity=settings.identity,
            verbose=verbose,
        )
    finally:
        pipeline.close()
    if report:
        entry = {
            "source": source,
            "output": str(record) if record else None,
            **stats.summary(),
            **stats.tally.summary(),
        }
        described = {**settings.as_report(), **identity_entry(pipeline)}
        write_report(report, "webcam", described, [entry], stats.tally)
    if not quiet:
        where = f" → {record}" if record else ""
        click.echo(
            f"faceanon: {stats.tally.frames} frames at {stats.fps:.1f} fps, {stats.dropped} "
            f"dropped, {stats.tally.swapped} face(s) swapped, {stats.tally.blurred} blurred{where}"
        )
        echo_cover_reasons(stats.tally)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option(
    "--min-face",
    type=click.IntRange(8, 4096),
    default=None,
    help=MIN_FACE_HELP,
)
@click.option(
    "--second-opinion/--no-second-opinion",
    default=True,
    show_default=True,
    help="Ask dlib's face descriptor too about faces the network is unsure of (about 2 % of "
    "faces, a few ms each).",
)
def classify(
    inputs: tuple[Path, ...], fmt: str, device: str, min_face: int | None, second_opinion: bool
) -> None:
    """Print the gender verdict of every face: csv rows file,gender,confidence, or json."""
    from pipeline.classify import load_classifier
    from pipeline.detect import PHOTO_DETECTOR, FaceDetector
    from pipeline.second_opinion import with_second_opinion

    from .classifyjob import classify_files, render
    from .imagejob import expand_inputs

    files = expand_inputs(inputs)
    classifier = load_classifier(device=device)
    if second_opinion:
        classifier = with_second_opinion(classifier)
    detector = FaceDetector(replace(PHOTO_DETECTOR, min_face=min_face))
    records = classify_files(files, detector, classifier)
    click.echo(render(records, fmt), nl=False)


@cli.group()
def train() -> None:
    """Train the project's neural networks."""


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--data, --out, --seed, --cache-dir and --quiet of the training and fitting commands."""
    return _with_data_options(command, seed=True)


def fit_data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The data options of a fit without randomness (no --seed)."""
    return _with_data_options(command, seed=False)


def _with_data_options(command: Callable[..., Any], seed: bool) -> Callable[..., Any]:
    options = [
        click.option(
            "--data",
            required=True,
            type=click.Path(path_type=Path, file_okay=False),
            help="Face data folder (gender/ and celeba/, see README).",
        ),
        click.option(
            "--out",
            type=click.Path(path_type=Path, file_okay=False),
            default=Path("weights"),
            show_default=True,
            help="Folder for the weights and their card.",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(path_type=Path, file_okay=False),
            default=None,
            help="Where aligned faces are cached (default: ~/.cache/faceanon).",
        ),
        click.option("--quiet", is_flag=True),
    ]
    if seed:
        options.insert(
            2,
            click.option("--seed", type=int, default=None, help="Default: the card's seed, 1234."),
        )
    for option in reversed(options):
        command = option(command)
    return command


@train.command("classifier")
@data_options
@click.option("--epochs", type=click.IntRange(1, 500), default=None, help="Default: 20.")
@click.option(
    "--input",
    "input_size",
    default=None,
    metavar="WxH",
    help="The network's input size (default 64x72, sized for a CPU; a GPU can afford more).",
)
@click.option(
    "--init",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Start from these classifier weights (a .pt file): a fine-tune, e.g. at a finer input.",
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Peak learning rate (default 0.1; a fine-tune wants less, e.g. 0.02).",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
def train_classifier_command(
    data: Path,
    out: Path,
    epochs: int | None,
    input_size: str | None,
    init: Path | None,
    learning_rate: float | None,
    seed: int | None,
    device: str,
    cache_dir: Path | None,
    quiet: bool,
) -> None:
    """Train the ResNet-18 gender classifier and write it to OUT."""
    from pipeline.training.classifier import TrainConfig, train_classifier

    _check_data(data)
    config = TrainConfig(device=device, input_size=_input_size(input_size), init=init)
    chosen = {"epochs": epochs, "seed": seed, "learning_rate": learning_rate}
    config = replace(config, **{k: v for k, v in chosen.items() if v is not None})
    card = train_classifier(data, out, config, cache_dir=cache_dir, quiet=quiet)
    for name, table in card["accuracy_percent"].items():
        click.echo(
            f"{name}: {table['overall']:.2f} % overall, male {table['male']:.2f} %, "
            f"female {table['female']:.2f} % ({table['count']} faces)"
        )
    click.echo(f"faceanon: classifier written to {out}")


def _input_size(text: str | None) -> tuple[int, int] | None:
    """WxH (e.g. 64x72) as (width, height), each 32 to 512 pixels."""
    if text is None:
        return None
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--input takes WxH, e.g. 64x72, not {text!r}") from None
    if not (32 <= width <= 512 and 32 <= height <= 512):
        raise InputError("--input sides must be 32 to 512 pixels")
    return width, height


@cli.group()
def fit() -> None:
    """Fit the project's statistical models."""


@fit.command("swapper")
@data_options
@click.option(
    "--strength-only",
    is_flag=True,
    help="Keep the model in OUT; choose its default strength and identity pull again "
    "(calibration only).",
)
@click.option(
    "--gallery",
    is_flag=True,
    help="Keep the model in OUT; refit its gender direction on make-up-free women and "
    "clean-shaven men (make-up, lipstick and facial hair projected out) and add the k-Same "
    "gallery, from the CelebA photos of the fit set and their attributes.",
)
def fit_swapper_command(
    data: Path,
    out: Path,
    seed: int | None,
    cache_dir: Path | None,
    quiet: bool,
    strength_only: bool,
    gallery: bool,
) -> None:
    """Fit the latent face model, choose its default strength and identity pull, and write it
    to OUT."""
    from pipeline.training.latent_fit import FitConfig, fit_swapper, recalibrate_strength

    _check_data(data)
    if gallery:
        from pipeline.training.latent_gallery import add_gallery

        card = add_gallery(data, out, cache_dir=cache_dir, quiet=quiet)
        counts = card["gallery_fit"]["gallery"]
        click.echo(
            f"faceanon: clean gender direction and k-Same gallery ({counts['male']} men, "
            f"{counts['female']} women) written to {out}"
        )
        return
    config = FitConfig() if seed is None else replace(FitConfig(), seed=seed)
    if strength_only:
        card = recalibrate_strength(data, out, config, cache_dir=cache_dir, quiet=quiet)
    else:
        card = fit_swapper(data, out, config, cache_dir=cache_dir, quiet=quiet)
    click.echo(
        f"faceanon: latent swapper written to {out} "
        f"(default strength α = {card['default_strength']}, "
        f"identity pull {card['identity_pull']})"
    )


@fit.command("second-opinion")
@fit_data_options
def fit_second_opinion_command(data: Path, out: Path, cache_dir: Path | None, quiet: bool) -> None:
    """Fit the classifier's second opinion (a gender head on dlib's face descriptor, asked
    about the faces the network is unsure of) for the classifier in OUT (or the shipped one)
    and write it to OUT."""
    from pipeline.training.second_opinion_fit import fit_second_opinion

    _check_data(data)
    card = fit_second_opinion(data, out, cache_dir=cache_dir, quiet=quiet)
    rule, held_out = card["rule"], card["accuracy_percent"]["held-out"]
    before, after = held_out["network"]["overall"], held_out["second_opinion"]["overall"]
    measured = f"; held-out faces {before:.2f} % → {after:.2f} %" if after is not None else ""
    click.echo(
        f"faceanon: second opinion written to {out} (asked below log-odds {rule['gate']}, "
        f"weight {rule['weight']}{measured})"
    )


@cli.command()
@click.option("-n", "count", type=click.IntRange(1, 10000), default=8, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=click.IntRange(64, 2048), default=512, show_default=True)
@click.option(
    "--gender", type=click.Choice(["any", "male", "female"]), default="any", show_default=True
)
@click.option(
    "--temperature",
    type=click.FloatRange(0.0, 2.0),
    default=0.7,
    show_default=True,
    help="Spread around the class centre (1: as wide as the fitted data).",
)
def synth(count: int, output: Path, seed: int, size: int, gender: str, temperature: float) -> None:
    """Draw new synthetic faces from the latent model (PNG files in OUTPUT)."""
    import numpy as np

    from pipeline.latent.swapper import LatentSwapper
    from pipeline.latent.synth import sample_face
    from pipeline.types import Gender

    from .atomic import check_writable_folder, make_folder
    from .images import LoadedImage, write_image

    make_folder(output)
    check_writable_folder(output)
    model = LatentSwapper.load().model
    rng = np.random.default_rng(seed)
    chosen = None if gender == "any" else Gender(gender)
    for i in range(count):
        face = sample_face(model, rng, chosen, size=size, temperature=temperature)
        blank = LoadedImage(bgr=face.image, mode="RGB", alpha=None, native=None, icc_profile=None)
        write_image(output / f"synth_{seed}_{i:04d}_{face.gender.value}.png", blank, face.image)
    click.echo(f"faceanon: {count} synthetic face(s) written to {output}")


@cli.command()
@click.option(
    "--device", type=click.Choice(DEVICES), default="auto", show_default=True, help="Where to run."
)
@click.option(
    "--samples",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Folder with group.png and clip.mp4 (default: the shipped samples).",
)
def bench(device: str, samples: Path | None) -> None:
    """Speed figures on the shipped samples, each against a baseline measured in the same run."""
    from .bench import run_bench

    folder = samples or Path(__file__).resolve().parents[1] / "samples"
    for name in ("group.png", "clip.mp4"):
        if not (folder / name).is_file():
            raise InputError(f"{folder / name} is missing (samples/make_samples.py makes it)")
    for line in run_bench(folder, RunSettings(device=device)):
        click.echo(line)


def _check_report(report: Path | None, *others: Path) -> None:
    """Refuse a report path that names an input or output; fail now if it cannot be written."""
    if report is None:
        return
    from .atomic import check_writable_folder, make_folder, same_file

    for other in others:
        if report.resolve() == other.resolve() or same_file(report, other):
            raise InputError(f"--report {report} would overwrite {other}; choose another name")
    make_folder(report.parent)
    check_writable_folder(report.parent)


def _has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _check_data(data: Path) -> None:
    if not data.is_dir():
        raise InputError(f"{data}: no such data folder")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        code = cli.main(args=argv, prog_name="faceanon", standalone_mode=False)
    except click.exceptions.Exit as done:
        code = done.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("faceanon: interrupted", err=True)
        code = 130
    except click.ClickException as error:
        click.echo(f"faceanon: error: {_one_line(error.format_message())}", err=True)
        code = 2
    except FaceanonError as error:
        click.echo(f"faceanon: error: {_one_line(str(error))}", err=True)
        code = error.exit_code
    except Exception as error:
        if os.environ.get("FACEANON_DEBUG"):
            raise
        click.echo(
            f"faceanon: error: unexpected failure: {_one_line(repr(error))} "
            "(set FACEANON_DEBUG=1 for details)",
            err=True,
        )
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())


cli.add_command(batch)
