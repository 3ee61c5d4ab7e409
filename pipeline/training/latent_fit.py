"""Fit the latent face model (`faceanon fit swapper`) and choose its default strength.

Fit set: `gender/train`, the 'train' half of labelled CelebA and the unlabelled CelebA photos
(labelled by the project's classifier where it is confident). Strength is calibrated on
`gender/val`; the labelled CelebA 'test' half is never used here and stays for reporting.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..classify import GenderClassifier
from ..latent.model import LatentFaceModel, control_points, hull_weight
from ..latent.swapper import CARD_KIND, CARD_NAME, CARD_VERSION, LatentSwapper
from ..latent.warp import delaunay, warp
from ..types import Gender
from ..weights import read_card, write_card
from .facecache import UNLABELLED, FaceSet, prepare_faces
from .swap_eval import FaceCase, SwapEvaluator, SwapFigures, load_cases

FIT_SIZE = 192


@dataclass(frozen=True)
class FitConfig:
    texture_size: int = 128  # shape-free texture frame; the swap adds a smooth difference
    shape_variance: float = 0.99  # keep shape components up to this share of variance
    texture_components: int = 200
    context_size: int = 96
    context_components: int = 80
    label_confidence: float = 0.95  # classifier labels for unlabelled photos need this much
    alpha_grid: tuple[float, ...] = (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5)
    shape_gains: tuple[float, ...] = (1.0, 1.5)
    calibration_faces: int = 300  # per class, from gender/val
    identity_faces: int = 150
    flip_target: float = 0.97
    detect_target: float = 0.98
    identity_target: float = 0.90  # share of faces a face recogniser no longer matches
    pull_grid: tuple[float, ...] = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75)  # from 0: no pull
    seed: int = 1234


def shape_free_textures(
    faces: FaceSet,
    mean_shape: np.ndarray,
    triangles: np.ndarray,
    pixels: np.ndarray | None,
    size: int,
    quiet: bool = False,
) -> np.ndarray:
    """(n, 3m) float32: every face warped onto the mean shape in a size×size frame, sampled at
    `pixels` (None: the whole frame)."""
    if pixels is None:
        pixels = np.arange(size * size)
    jobs = [(i, min(i + 256, len(faces))) for i in range(0, len(faces), 256)]
    out = np.empty((len(faces), len(pixels) * 3), np.float32)
    with ProcessPoolExecutor() as pool:
        futures = [
            pool.submit(
                _textures,
                np.asarray(faces.crops[a:b]),
                faces.landmarks[a:b] / faces.size,
                mean_shape,
                triangles,
                pixels,
                size,
            )
            for a, b in jobs
        ]
        for (a, b), future in tqdm(
            zip(jobs, futures, strict=True),
            total=len(jobs),
            desc=f"shape-free textures {size}px",
            disable=quiet,
        ):
            out[a:b] = future.result()
    return out


def _textures(crops, unit_landmarks, mean_shape, triangles, pixels, size) -> np.ndarray:
    dst = control_points(mean_shape, mean_shape, size)
    rows = []
    for crop, unit in zip(crops, unit_landmarks, strict=True):
        src = control_points(unit, unit, crop.shape[0])
        frame = warp(crop, src, dst, triangles, (size, size))
        rows.append(frame.reshape(-1, 3)[pixels].astype(np.float32).reshape(-1))
    return np.stack(rows)


def fit_model(
    faces: FaceSet, labels: np.ndarray, config: FitConfig, quiet: bool = False
) -> tuple[LatentFaceModel, dict]:
    """PCA of shape and texture, class centres and their difference. Returns the model with
    each candidate gender direction (class-centre difference; discriminant normal), their
    default strength still 1.0, and facts for the card."""
    torch.manual_seed(config.seed)
    n = len(faces)
    unit = faces.landmarks.reshape(n, -1) / faces.size
    mean_shape = unit.mean(axis=0)
    _, s, vt = np.linalg.svd(unit - mean_shape, full_matrices=False)
    explained = np.cumsum(s**2) / np.sum(s**2)
    ks = int(np.searchsorted(explained, config.shape_variance) + 1)
    shape_basis = vt[:ks]
    shape_sd = s[:ks] / np.sqrt(n - 1)
    mean_shape = mean_shape.reshape(68, 2)

    t = config.texture_size
    triangles = delaunay(control_points(mean_shape, mean_shape, t))
    weight = hull_weight(mean_shape, t).reshape(-1)
    pixels = np.flatnonzero(weight > 0)
    textures = shape_free_textures(faces, mean_shape, triangles, pixels, t, quiet)
    mean_texture = textures.mean(axis=0)
    if not quiet:
        print(
            f"texture PCA: {n} faces × {textures.shape[1]} values "
            f"→ {config.texture_components} components"
        )
    kt = config.texture_components
    texture_basis, texture_sd, texture_explained = _pca(textures, mean_texture, kt)

    shape_codes = (unit - mean_shape.reshape(-1)) @ shape_basis.T
    texture_codes = np.concatenate(
        [(textures[i : i + 4096] - mean_texture) @ texture_basis.T for i in range(0, n, 4096)]
    )
    del textures
    labelled = labels != UNLABELLED
    # Surroundings (hair, neck, background) only from whole photos: the tight crops are padded
    # by reflection, and mirrored faces would haunt the synthetic ones.
    photos = np.char.startswith(faces.names.astype(str), "celeba/")
    c = config.context_size
    context = shape_free_textures(faces.subset(photos), mean_shape, triangles, None, c, quiet)
    context_mean = context.mean(axis=0)
    context_basis, context_sd, _ = _pca(context, context_mean, config.context_components)
    context_codes = (context - context_mean) @ context_basis.T
    photo_labels = labels[photos]
    centres_context = np.stack([context_codes[photo_labels == k].mean(axis=0) for k in (0, 1)])
    del context
    centres_shape = np.stack([shape_codes[labelled & (labels == k)].mean(axis=0) for k in (0, 1)])
    centres_texture = np.stack(
        [texture_codes[labelled & (labels == k)].mean(axis=0) for k in (0, 1)]
    )
    codes = np.concatenate([shape_codes, texture_codes], axis=1)[labelled]
    discriminant = discriminant_direction(
        codes, np.concatenate([shape_sd, texture_sd]), labels[labelled]
    )
    model = LatentFaceModel(
        mean_shape=mean_shape.astype(np.float32),
        shape_basis=shape_basis.astype(np.float32),
        shape_sd=shape_sd.astype(np.float32),
        texture_size=t,
        texture_pixels=pixels,
        texture_weight=weight[pixels],
        mean_texture=mean_texture.reshape(-1, 3),
        texture_basis=texture_basis.astype(np.float32),
        texture_sd=texture_sd.astype(np.float32),
        triangles=triangles,
        direction_shape=centres_shape[1] - centres_shape[0],
        direction_texture=centres_texture[1] - centres_texture[0],
        class_mean_shape=centres_shape.astype(np.float32),
        class_mean_texture=centres_texture.astype(np.float32),
        context_size=c,
        context_mean=context_mean,
        context_basis=context_basis.astype(np.float32),
        context_sd=context_sd.astype(np.float32),
        class_mean_context=centres_context.astype(np.float32),
        default_strength=1.0,
    )
    facts = {
        "fit_faces": n,
        "labelled_faces": {"male": int((labels == 0).sum()), "female": int((labels == 1).sum())},
        "shape_components": ks,
        "shape_variance_explained": round(float(explained[ks - 1]), 4),
        "texture_components": kt,
        "texture_variance_explained": round(texture_explained, 4),
        "texture_frame": t,
        "texture_values": int(len(pixels) * 3),
    }
    alternatives = {
        "class centres": model,
        "discriminant": replace(
            model,
            direction_shape=discriminant[:ks].astype(np.float32),
            direction_texture=discriminant[ks:].astype(np.float32),
        ),
    }
    return alternatives, facts


def discriminant_direction(
    codes: np.ndarray, sd: np.ndarray, labels: np.ndarray, ridge: float = 0.1
) -> np.ndarray:
    """The linear-classifier alternative to the class-centre difference: Fisher's discriminant
    normal in whitened coordinates (ridge-regularised), scaled so one unit of it moves a face as
    far along the normal as the class centres lie apart."""
    white = codes / sd
    centres = np.stack([white[labels == k].mean(axis=0) for k in (0, 1)])
    difference = centres[1] - centres[0]
    within = sum(np.cov(white[labels == k], rowvar=False) for k in (0, 1)) / 2
    normal = np.linalg.solve(within + ridge * np.eye(len(sd)), difference)
    step = normal * (difference @ normal) / (normal @ normal)
    return step * sd


def _pca(data: np.ndarray, mean: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Top-k principal directions (rows), their standard deviations and the variance share
    they explain, by randomized SVD (torch.svd_lowrank, seeded by the caller)."""
    n = len(data)
    _, s, v = torch.svd_lowrank(
        torch.from_numpy(data), q=k + 20, niter=3, M=torch.from_numpy(mean)[None, :]
    )
    sd = (s[:k] / np.sqrt(n - 1)).numpy()
    total = sum(float(((data[i : i + 4096] - mean) ** 2).sum()) for i in range(0, n, 4096)) / (
        n - 1
    )
    return v[:, :k].T.numpy(), sd, float((sd**2).sum() / total)


def choose_strength(
    evaluator: SwapEvaluator, cases, identity_cases, config: FitConfig, quiet: bool = False
) -> tuple[float, list[SwapFigures], SwapFigures]:
    """The smallest α of the grid whose swaps flip ≥ flip_target of `cases` in both directions
    and keep ≥ detect_target of them detectable by dlib; when none does, the last α tried (the
    grid stops where detection gives out). Returns α, the figures of every α tried, and the
    identity figures of `identity_cases` at α."""
    tried: list[SwapFigures] = []
    for alpha in config.alpha_grid:
        figures = evaluator.evaluate(cases, alpha, quiet=quiet)
        tried.append(figures)
        if not quiet:
            print(figures.summary())
        if meets_targets(figures, config) or figures.detected_rate < config.detect_target:
            break
    alpha = tried[-1].alpha
    return alpha, tried, evaluator.evaluate(identity_cases, alpha, identity=True, quiet=quiet)


@dataclass
class PullChoice:
    """The identity pull chosen at a strength, with what every pull tried measured."""

    pull: float
    at_pull: SwapFigures  # flips and detection on the calibration faces
    identity: SwapFigures  # the recogniser on the identity faces
    tried: list[dict]


def choose_pull(
    evaluator: SwapEvaluator,
    swapper: LatentSwapper,
    alpha: float,
    cases,
    identity_cases,
    config: FitConfig,
    quiet: bool = False,
) -> PullChoice:
    """The smallest identity pull of the grid (which starts at 0, no pull) at which dlib's face
    recogniser no longer matches ≥ identity_target of `identity_cases`, while the pull costs no
    flips or detections on `cases`: each stays at its target, or at least where the gentler
    pull before it left it. When the recogniser target is never reached, the strongest pull
    that kept them (privacy before likeness). `evaluator` must judge `swapper`, whose pull
    this sets."""
    tried: list[dict] = []
    chosen: PullChoice | None = None
    for pull in config.pull_grid:
        swapper.identity_pull = pull
        identity = evaluator.evaluate(identity_cases, alpha, identity=True, quiet=quiet)
        figures = evaluator.evaluate(cases, alpha, quiet=quiet)
        tried.append({"identity_pull": pull, **figures.summary(), **_identity_part(identity)})
        if not quiet:
            print(tried[-1])
        if chosen is not None and not _keeps(figures, chosen.at_pull, config):
            break  # stronger pulls only move further from the calibrated swap
        chosen = PullChoice(pull, figures, identity, tried)
        if identity.unmatched_rate >= config.identity_target:
            break
    assert chosen is not None, "an empty pull grid"
    swapper.identity_pull = chosen.pull
    return chosen


def _keeps(figures: SwapFigures, gentler: SwapFigures, config: FitConfig) -> bool:
    """Whether a pull keeps each flip rate and the detection rate at its target, or at least
    as high as a gentler pull had it."""
    pairs = [(figures.flip_rate(g), gentler.flip_rate(g), config.flip_target) for g in Gender]
    pairs.append((figures.detected_rate, gentler.detected_rate, config.detect_target))
    return all(value >= min(before, target) for value, before, target in pairs)


def pull_for(
    model: LatentFaceModel,
    alpha: float,
    classifier: GenderClassifier,
    cases,
    identity_cases,
    config: FitConfig,
    quiet: bool = False,
) -> PullChoice:
    """`choose_pull` for a model at its chosen α."""
    swapper = LatentSwapper(model, identity_pull=0.0)
    evaluator = SwapEvaluator(classifier, swapper)
    return choose_pull(evaluator, swapper, alpha, cases, identity_cases, config, quiet)


def pull_record(choice: PullChoice) -> dict:
    """The card's record of the identity pull's choice."""
    return {
        "identity_pull": choice.pull,
        "at_pull": {**choice.at_pull.summary(), **_identity_part(choice.identity)},
        "grid": choice.tried,
    }


def _identity_part(identity: SwapFigures) -> dict:
    summary = identity.summary()
    return {k: summary[k] for k in summary if k.startswith(("identity", "recogniser"))}


def meets_targets(figures: SwapFigures, config: FitConfig) -> bool:
    """The flip and detection targets (identity is measured on its own, smaller set)."""
    flips = [figures.flip_rate(g) for g in Gender]
    return min(flips) >= config.flip_target and figures.detected_rate >= config.detect_target


def strength_rule(config: FitConfig, faces: int, identity_faces: int) -> str:
    """The card's account of how α and the identity pull were chosen."""
    return (
        f"α: the smallest in {list(config.alpha_grid)} at which the project's classifier calls "
        f"≥ {config.flip_target:.0%} of {faces} gender/val faces the other gender in both "
        f"directions and dlib still detects ≥ {config.detect_target:.0%} of those it detected "
        "before (else the last tried, the grid stopping where detection gives out); identity "
        f"pull at that α: the smallest in {list(config.pull_grid)} at which dlib's face "
        f"recogniser no longer matches ≥ {config.identity_target:.0%} of {identity_faces} of "
        "them (descriptor distance ≥ 0.6) while each flip rate and the detection rate stays at "
        "its target or at least where the gentler pull left it, else the strongest pull that "
        "kept them; all measured through the whole pipeline (swap, paste back, re-detect, "
        "re-align, classify)"
    )


@dataclass
class Candidate:
    """One variant of the model, calibrated: its α and what it measured there."""

    name: str
    model: LatentFaceModel
    alpha: float
    at_alpha: SwapFigures
    tried: list[SwapFigures]


def calibrate(
    variants: dict[str, LatentFaceModel],
    classifier: GenderClassifier,
    cases,
    identity_cases,
    config: FitConfig,
    quiet: bool = False,
) -> tuple[Candidate, list[Candidate]]:
    """Calibrate α for every variant (direction × shape gain) and pick: variants meeting the
    flip and detection targets first, then the one a face recogniser matches least often at
    its α, then the higher pixel similarity."""
    candidates = []
    for name, base in variants.items():
        for gain in config.shape_gains:
            model = replace(base, shape_gain=gain)
            label = f"{name}, shape gain {gain:g}"
            if not quiet:
                print(f"calibrating: {label}")
            evaluator = SwapEvaluator(classifier, LatentSwapper(model))
            alpha, tried, at_alpha = choose_strength(
                evaluator, cases, identity_cases, config, quiet
            )
            candidates.append(Candidate(label, model, alpha, at_alpha, tried))
            if not quiet:
                print(label, at_alpha.summary())

    def rank(c: Candidate) -> tuple:
        at = next(f for f in c.tried if f.alpha == c.alpha)
        return (
            meets_targets(at, config),
            round(c.at_alpha.unmatched_rate, 2),
            float(np.mean(c.at_alpha.pixel)),
        )

    return max(candidates, key=rank), candidates


def calibration_cases(
    data: Path, faces: FaceSet, config: FitConfig, quiet: bool = False
) -> tuple[list[FaceCase], list[FaceCase]]:
    """The gender/val faces α is calibrated on (`calibration_faces` of each class, drawn with
    the fit's seed) and the evenly spaced subset identity is measured on."""
    rng = np.random.default_rng(config.seed)
    val = faces.where("val")
    pick = np.concatenate(
        [
            rng.permutation(np.flatnonzero(val.labels == k))[: config.calibration_faces]
            for k in (0, 1)
        ]
    )
    cases = load_cases(data, val.names[pick], val.labels[pick], quiet)
    return cases, cases[:: max(1, len(cases) // config.identity_faces)]


def fit_swapper(
    data: Path,
    out_dir: Path,
    config: FitConfig = FitConfig(),
    cache_dir: Path | None = None,
    quiet: bool = False,
) -> dict:
    """Fit, calibrate, save `latent_swapper.npz` and its card; return the card."""
    started = time.time()
    classifier = GenderClassifier.load(device="cpu")
    faces = prepare_faces(data, size=FIT_SIZE, cache_dir=cache_dir, quiet=quiet)
    fit_set = faces.subset(np.isin(faces.splits, ["train", "unlabelled"]))
    labels = fit_set.labels.astype(np.int64).copy()
    unlabelled = np.flatnonzero(labels == UNLABELLED)
    probs = np.zeros((0, 2))
    if len(unlabelled):
        probs = np.concatenate(
            [
                classifier.probabilities(np.asarray(fit_set.crops[unlabelled[i : i + 512]]))
                for i in range(0, len(unlabelled), 512)
            ]
        )
    sure = probs.max(axis=1) >= config.label_confidence
    labels[unlabelled[sure]] = probs[sure].argmax(axis=1)
    variants, facts = fit_model(fit_set, labels, config, quiet)
    facts["classifier_labelled_photos"] = int(sure.sum())

    cases, identity_cases = calibration_cases(data, faces, config, quiet)
    chosen, candidates = calibrate(variants, classifier, cases, identity_cases, config, quiet)
    pulled = pull_for(chosen.model, chosen.alpha, classifier, cases, identity_cases, config, quiet)
    model = replace(chosen.model, default_strength=float(chosen.alpha), identity_pull=pulled.pull)

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{CARD_NAME}.npz"
    model.save(path)
    card = {
        "data": "aligned faces of gender/train, the 'train' half of labelled CelebA, and "
        "unlabelled CelebA photos labelled by the project's classifier (confidence ≥ "
        f"{config.label_confidence}); gender/val and the CelebA 'test' half are held out",
        "model": facts,
        "default_strength": chosen.alpha,
        "identity_pull": pulled.pull,
        "shape_gain": model.shape_gain,
        "direction": chosen.name,
        "strength_choice": (
            f"for each variant, {strength_rule(config, len(cases), len(identity_cases))}; then "
            "the variant a face recogniser matches least often at its α, then the higher pixel "
            "similarity"
        ),
        "candidates": [
            {
                "variant": c.name,
                "alpha": c.alpha,
                "at_alpha": c.at_alpha.summary(),
                "grid": [f.summary() for f in c.tried],
            }
            for c in candidates
        ],
        "pull_choice": pull_record(pulled),
        "fit": {**asdict(config), "minutes": round((time.time() - started) / 60, 1)},
    }
    write_card(out_dir, CARD_NAME, CARD_KIND, CARD_VERSION, path, **card)
    return card


def recalibrate_strength(
    data: Path,
    weights_dir: Path,
    config: FitConfig = FitConfig(),
    cache_dir: Path | None = None,
    quiet: bool = False,
) -> dict:
    """Choose the fitted model's default α and identity pull again by `choose_strength` and
    `choose_pull` (the model itself is not refitted), on the same calibration faces a fit uses;
    rewrite them in the model and its card, which keeps the fit's record and adds this one.
    Returns the card."""
    started = time.time()
    card, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION, weights_dir)
    model = LatentFaceModel.load(path)
    classifier = GenderClassifier.load(device="cpu")
    faces = prepare_faces(data, size=FIT_SIZE, cache_dir=cache_dir, quiet=quiet)
    cases, identity_cases = calibration_cases(data, faces, config, quiet)
    evaluator = SwapEvaluator(classifier, LatentSwapper(model, identity_pull=0.0))
    alpha, tried, at_alpha = choose_strength(evaluator, cases, identity_cases, config, quiet)
    pulled = pull_for(model, alpha, classifier, cases, identity_cases, config, quiet)
    replace(model, default_strength=float(alpha), identity_pull=pulled.pull).save(path)
    fields = {k: v for k, v in card.items() if k not in ("name", "kind", "version", "file")}
    fields.pop("sha256", None)
    fields.setdefault(  # the fit's own choice, kept through any number of recalibrations
        "fit_strength_choice",
        {"default_strength": card.get("default_strength"), "rule": card.get("strength_choice")},
    )
    fields["default_strength"] = alpha
    fields["identity_pull"] = pulled.pull
    fields["pull_choice"] = pull_record(pulled)
    fields["strength_choice"] = (
        f"recalibrated for the variant {card.get('direction')!r}: "
        f"{strength_rule(config, len(cases), len(identity_cases))}"
    )
    fields["recalibration"] = {
        "at_alpha": at_alpha.summary(),
        "grid": [f.summary() for f in tried],
        "identity_target": config.identity_target,
        "minutes": round((time.time() - started) / 60, 1),
    }
    write_card(path.parent, CARD_NAME, CARD_KIND, CARD_VERSION, path, **fields)
    return read_card(CARD_NAME, CARD_KIND, CARD_VERSION, path.parent)[0]
