"""Gender swap quality and speed on held-out real faces, against two baselines in the same run.

    .venv/bin/python benchmarks/swap.py [--data ../shared/data] [--faces 600] [--identity 200]
        [--strength A] [--identity-pull P]

Rows: the swap (strength α and identity pull from the card, or as given), the same α without
the identity pull, and two baselines. Faces: the labelled CelebA 'test' half (never used to fit
or calibrate), topped up from gender/val. Each face is swapped in its own frame through the
whole pipeline (direction from its true label), pasted back, then judged: the project's
classifier (flip rate per direction), dlib's detector (still detected, of those it detected
before), dlib's face recogniser (descriptor distance; ≥ 0.6 means it no longer matches), the
study's pixel similarity. Baselines measured on the same faces: "unchanged" (α = 0: what the
judges say of the originals) and "covered" (the fail-closed blur-and-noise cover).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.classify import GenderClassifier
from pipeline.latent.swapper import LatentSwapper
from pipeline.obscure import obscure
from pipeline.swap import LatentChoices
from pipeline.training.dataset import never_fitted
from pipeline.training.facecache import prepare_faces
from pipeline.training.swap_eval import SwapEvaluator, load_cases, timed_swaps
from pipeline.types import AlignedCrop, Box

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class Unchanged:
    name, default_strength = "unchanged", 0.0

    def swap(self, crops, genders, strength=None):
        return list(crops)


class Covered:
    name, default_strength = "covered", 0.0

    def swap(self, crops, genders, strength=None):
        out = []
        for crop in crops:
            image = obscure(crop.image.copy(), Box.around(crop.landmarks))
            out.append(AlignedCrop(image, crop.landmarks, crop.alignment))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--faces", type=int, default=600)
    parser.add_argument(
        "--identity",
        type=int,
        default=200,
        help="faces given the identity descriptors (a few ms each)",
    )
    parser.add_argument("--strength", type=float, default=None)
    parser.add_argument("--identity-pull", type=float, default=None)
    args = parser.parse_args()
    if not (args.data / "celeba").is_dir():
        sys.exit(f"needs the face data folder (not part of the repository): {args.data}")

    classifier = GenderClassifier.load(device="cpu")
    swapper = LatentSwapper.load(choices=LatentChoices(identity_pull=args.identity_pull))
    gender_only = LatentSwapper(swapper.model, identity_pull=0.0)
    alpha = swapper.default_strength if args.strength is None else args.strength
    pull = swapper.identity_pull
    faces = prepare_faces(args.data)
    test, val = faces.where("test"), faces.where("val")
    test = test.of_files(never_fitted(args.data))
    names = list(test.names) + list(val.names)
    labels = list(test.labels) + list(val.labels)
    cases = load_cases(args.data, np.array(names[: args.faces]), np.array(labels[: args.faces]))
    step = max(1, len(cases) // args.identity)

    rows = []
    for label, candidate, strength in (
        ("unchanged (α=0)", Unchanged(), 0.0),
        (f"gender only α={alpha:g}", gender_only, alpha),
        (f"swap α={alpha:g} pull={pull:g}", swapper, alpha),
        ("covered (fail-closed)", Covered(), 0.0),
    ):
        evaluator = SwapEvaluator(classifier, candidate)
        figures = evaluator.evaluate(cases, strength)
        identity = evaluator.evaluate(cases[::step], strength, identity=True)
        rows.append((label, figures.summary(), identity.summary()))

    print(
        f"\n{len(cases)} held-out faces ({min(len(test), args.faces)} CelebA test), "
        f"identity on {len(cases[::step])}"
    )
    header = f"{'':<26}{'M→F %':>7}{'F→M %':>7}{'detected %':>11}{'pixel %':>9}"
    print(header + f"{'dist q1/q2/q3':>20}{'no match %':>11}")
    for label, s, ident in rows:
        quartiles = "/".join(f"{v:.2f}" for v in ident["identity_distance_quartiles"])
        print(
            f"{label:<26}{s['flip_male_to_female_percent']:>7.1f}"
            f"{s['flip_female_to_male_percent']:>7.1f}{s['still_detected_percent']:>11.1f}"
            f"{s['pixel_similarity_percent_mean']:>9.2f}{quartiles:>20}"
            f"{ident['recogniser_no_longer_matches_percent']:>11.1f}"
        )
    ms = timed_swaps(swapper, cases[:64], alpha)
    print(f"\nswap alone: {ms:.2f} ms per face on the CPU (64 faces, 256-pixel crops)")
    if pull:
        ms = timed_swaps(gender_only, cases[:64], alpha)
        print(f"gender only, no identity pull: {ms:.2f} ms per face")


if __name__ == "__main__":
    main()
