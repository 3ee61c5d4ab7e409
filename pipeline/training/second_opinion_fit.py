"""`faceanon fit second-opinion`: the descriptor head and the rule for consulting it.

The head is a logistic regression on dlib's descriptors of the faces the classifier trained
on: gender/train's tight crops and the CelebA photos not held out, so that, like the network,
it knows both kinds (fitted on the photos alone, it called 7 % of gender/val's men women).
When to consult it and how much it counts is chosen on gender/val, which neither the network
nor the head trained on; the held-out CelebA photos are only measured. No randomness: the
same data and network give the same head.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..classify import CLASSES, load_classifier, verdicts
from ..errors import InputError
from ..models import face_describer
from ..recognition import FaceDescriber
from ..second_opinion import (
    CARD_KIND,
    CARD_NAME,
    CARD_VERSION,
    ConsultRule,
    DescriptorHead,
    male_log_odds,
)
from ..similarity import descriptor_chip
from ..types import Gender
from ..weights import user_cache_dir, write_card
from .classifier import CROP_SIZE
from .dataset import list_sources
from .facecache import CACHE_VERSION, FaceSet, prepare_faces

# ridge on the standardised descriptor: gender/val liked 0.01 best of 0.001, 0.01 and 0.1
L2 = 0.01
GATES = (*np.round(np.arange(0.25, 4.01, 0.25), 2).tolist(), float("inf"))
WEIGHTS = tuple(np.round(np.arange(0.25, 2.01, 0.25), 2).tolist())
_BATCH = 32  # faces described at once
_WAVE = 2048  # faces between checkpoints
_MALE = CLASSES.index(Gender.MALE)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 25) -> np.ndarray:
    """Weights (d + 1, the bias last) of a ridge logistic regression of y ∈ {0, 1} on x, by
    Newton's method (deterministic; the ridge leaves the bias free)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    ridge = np.full(design.shape[1], l2 * len(x))
    ridge[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        gradient = design.T @ (p - y) + ridge * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(ridge)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit_head(descriptors: np.ndarray, male: np.ndarray, l2: float = L2) -> DescriptorHead:
    """The head for descriptors (n, 128) and their labels (1: male)."""
    mean = descriptors.mean(axis=0)
    scale = descriptors.std(axis=0) + 1e-6
    w = fit_logistic((descriptors - mean) / scale, male.astype(np.float64), l2)
    return DescriptorHead(mean=mean, scale=scale, weights=w[:-1], bias=float(w[-1]))


def fused(network: np.ndarray, head: np.ndarray, rule: ConsultRule) -> np.ndarray:
    """Log-odds of male after the rule: the network's, plus the head's where under the gate."""
    return np.where(np.abs(network) < rule.gate, network + rule.weight * head, network)


def choose_rule(network: np.ndarray, head: np.ndarray, male: np.ndarray) -> ConsultRule:
    """The gate and weight that are right most often on these faces; of equals, the lowest
    gate (fewest descriptors to compute), then the lowest weight."""
    best: tuple[float, float, float] | None = None
    for gate in GATES:
        for weight in WEIGHTS:
            correct = float(((fused(network, head, ConsultRule(gate, weight)) > 0) == male).sum())
            key = (-correct, gate, weight)
            if best is None or key < best:
                best = key
    assert best is not None
    return ConsultRule(gate=best[1], weight=best[2])


def table(log_odds: np.ndarray, male: np.ndarray) -> dict[str, float | None]:
    """Overall and per-class accuracy in percent (None where there are no faces)."""
    right = (log_odds > 0) == male

    def percent(picked: np.ndarray) -> float | None:
        return round(float(picked.mean() * 100), 2) if len(picked) else None

    return {
        "overall": percent(right),
        "male": percent(right[male]),
        "female": percent(right[~male]),
        "count": len(male),
    }


def fit_second_opinion(
    data: Path, out_dir: Path, cache_dir: Path | None = None, quiet: bool = False
) -> dict:
    """Fit the head, choose its rule, measure it, and write it and its card to `out_dir`
    (which must hold, or default to, the classifier it goes with)."""
    started = time.time()
    cache_dir = Path(cache_dir or user_cache_dir())
    splits = {s.split for s in list_sources(data) if s.gender is not None}
    for split, wanted in (("train", "labelled training faces"), ("val", "gender/val faces")):
        if split not in splits:
            raise InputError(f"{data}: no {wanted}, which the second opinion's fit needs")
    faces = prepare_faces(data, size=CROP_SIZE, cache_dir=cache_dir, quiet=quiet)
    sets = {
        "train": faces.where("train"),
        "val": faces.where("val"),
        "held-out": faces.where("test"),
    }
    described = {name: cached_descriptors(s, cache_dir, quiet, name) for name, s in sets.items()}
    descriptors = {name: d for name, (d, _) in described.items()}
    male = {name: subset.labels == _MALE for name, subset in sets.items()}
    head = fit_head(descriptors["train"], male["train"])

    classifier_dir = out_dir if (out_dir / "gender_classifier.json").is_file() else None
    network = load_classifier(classifier_dir, device="cpu")
    network_odds = {name: network_log_odds(network, sets[name]) for name in ("val", "held-out")}
    head_odds = {name: head.logits(descriptors[name]) for name in ("val", "held-out")}
    rule = choose_rule(network_odds["val"], head_odds["val"], male["val"])

    results = {}
    for name in ("val", "held-out"):
        n, h, m = network_odds[name], head_odds[name], male[name]
        asked = np.abs(n) < rule.gate
        results[name] = {
            "network": table(n, m),
            "head": table(h, m),
            "second_opinion": table(fused(n, h, rule), m),
            "consulted_percent": round(float(asked.mean() * 100), 2) if len(n) else None,
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{CARD_NAME}.npz"
    head.save(path)
    card = {
        "rule": {"gate": rule.gate, "weight": rule.weight},
        "classifier_sha256": network.card["sha256"],
        "fitting": {
            "command": "faceanon fit second-opinion --data DATA",
            "head": f"ridge logistic regression (L2 {L2} on standardised inputs, Newton's "
            "method, no randomness) on dlib's descriptors of the classifier's "
            f"{len(sets['train'])} aligned training faces: gender/train and the CelebA "
            "photos not held out (CelebA's Male attribute)",
            "rule": f"gate and weight chosen on {len(sets['val'])} aligned gender/val faces: "
            "most right, then the lowest gate, then the lowest weight "
            f"(gates {GATES[0]}-{GATES[-2]} by 0.25 and none; weights {WEIGHTS[0]}-"
            f"{WEIGHTS[-1]} by 0.25)",
            "descriptor": "dlib_face_recognition_resnet_model_v1 at the aligned crop's own "
            f"landmarks ({CROP_SIZE}-pixel crops from the pipeline's detector, landmarks "
            "and alignment)",
            "minutes": round((time.time() - started) / 60, 1),
            # descriptors are cached by face: a run that finds them cached is much shorter
            "faces_described": sum(new for _, new in described.values()),
            "faces_in_all": sum(len(s) for s in sets.values()),
        },
        "accuracy_percent": results,
        "measured": "aligned faces of gender/val and of the held-out CelebA photos (the "
        "classifier card's list); photos where no face was found are not counted here, "
        "benchmarks/classifier.py counts them",
    }
    write_card(out_dir, CARD_NAME, CARD_KIND, CARD_VERSION, path, **card)
    return card


def network_log_odds(network, faces: FaceSet, batch: int = 256) -> np.ndarray:
    """The network's log-odds of male for each face, as the pipeline reads its verdicts."""
    odds: list[float] = []
    for start in range(0, len(faces), batch):
        probabilities = network.probabilities(list(faces.crops[start : start + batch]))
        odds.extend(male_log_odds(v) for v in verdicts(probabilities))
    return np.asarray(odds)


def cached_descriptors(
    faces: FaceSet, cache_dir: Path, quiet: bool, label: str
) -> tuple[np.ndarray, int]:
    """dlib's descriptor of every face (n, 128), kept by face in `cache_dir`, so each face is
    described once (a stopped run keeps what it had); and how many were described now."""
    path = cache_dir / f"descriptors-{CROP_SIZE}-v{CACHE_VERSION}.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as saved:
            known = dict(zip(saved["names"].tolist(), saved["descriptors"], strict=True))
    names = [str(n) for n in faces.names]
    missing = [i for i, name in enumerate(names) if name not in known]
    describer = face_describer() if missing else None
    progress = tqdm(total=len(missing), desc=f"describing {label} faces", disable=quiet)
    with progress:
        for start in range(0, len(missing), _WAVE):  # then a checkpoint
            for batch in _batches(missing[start : start + _WAVE]):
                crops = [np.asarray(faces.crops[i]) for i in batch]
                described = _describe(describer, crops, faces.landmarks[batch])
                known.update((names[i], d) for i, d in zip(batch, described, strict=True))
                progress.update(len(batch))
            _save_descriptors(path, known)
    stacked = np.stack([known[name] for name in names]) if names else np.zeros((0, 128))
    return stacked, len(missing)


def _batches(indices: list[int]) -> list[list[int]]:
    return [indices[s : s + _BATCH] for s in range(0, len(indices), _BATCH)]


def _save_descriptors(path: Path, known: dict[str, np.ndarray]) -> None:
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, names=np.array(list(known)), descriptors=np.stack(list(known.values())))
    os.replace(partial, path)


def _describe(
    describer: FaceDescriber, crops: list[np.ndarray], landmarks: np.ndarray
) -> np.ndarray:
    """Descriptors of aligned BGR crops, each at its own landmarks (as `crop_describer`)."""
    chips = [descriptor_chip(crop, points) for crop, points in zip(crops, landmarks, strict=True)]
    return describer.describe_chips(np.concatenate(chips))
