"""Gender classifier, end to end: held-out photos through `faceanon classify`, every photo
counted; and the classifier's speed at batch 1, 8 and 32.

    .venv/bin/python benchmarks/classifier.py [--data ../shared/data] [--against DIR]
                                              [--photos N] [--device auto]

Accuracy: the held-out CelebA photos (`dataset.held_out_photos`: no training run saw them) go
through one `faceanon classify --format json` command, as a user runs it, and through one with
`--no-second-opinion` (the network alone) as the baseline of the same run. A photo counts as
right when its largest face gets the photo's CelebA `Male` label; a photo where no face is found
counts as wrong. Printed per class: overall (every photo), on the photos where a face was found,
and the share found; for all held-out photos, and for the labels.csv half that earlier models
held out too. `--against DIR` runs the same command with the weights in DIR (e.g. the previous
release's) as the baseline, in the same run: compare the two on that half, since earlier
weights may have trained on the rest. Then gender/val, the tight crops held out, aligned as in
training (the classifier alone, no detector).

Speed: the classifier call alone (window cut, normalisation, one pass of the network) on
256-pixel aligned crops, median of repeated runs, as the CLI runs it (on the CPU: ONNX Runtime,
`classify_onnx`) and on torch; baseline: the ResNet-18 at 224×224 (the study's input size),
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.classify import GenderClassifier, load_classifier  # noqa: E402
from pipeline.resnet import ResNet18  # noqa: E402
from pipeline.training.dataset import PHOTO, list_sources, never_fitted  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
GENDERS = ("male", "female")


def classify_photos(
    photos: list[Path], device: str, weights: Path | None, options: list[str]
) -> tuple[dict, float]:
    """{photo: verdict of its largest face, or "none"} from one `faceanon classify` command,
    and the command's seconds."""
    env = dict(os.environ)
    if weights is not None:
        env["FACEANON_WEIGHTS"] = str(weights)
    command = [str(ROOT / ".venv" / "bin" / "faceanon"), "classify", "--format", "json"]
    command += ["--device", device, *options, *map(str, photos)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    verdicts = {}
    for record in json.loads(done.stdout):
        faces = record["faces"]  # largest first
        verdicts[Path(record["file"])] = faces[0]["gender"] if faces else "none"
    return verdicts, seconds


def end_to_end_row(name: str, labels: dict[Path, str], verdicts: dict[Path, str]) -> str:
    cells = []
    for wanted in (None, *GENDERS):
        photos = [p for p, g in labels.items() if wanted is None or g == wanted]
        found = [p for p in photos if verdicts[p] != "none"]
        right = sum(verdicts[p] == labels[p] for p in photos)
        cells += [100 * right / len(photos), 100 * right / max(1, len(found))]
        cells += [100 * len(found) / len(photos)] if wanted is None else []
    overall, on_found, found_share, male, male_found, female, female_found = cells
    return (
        f"{name:<22}{overall:>9.2f}{male:>7.2f}{female:>8.2f}{on_found:>11.2f}"
        f"{male_found:>7.2f}{female_found:>8.2f}{found_share:>8.2f}"
    )


def end_to_end(data: Path, device: str, against: Path | None, limit: int | None) -> None:
    sources = [s for s in list_sources(data) if s.kind == PHOTO and s.split == "test"]
    sources = sources[:limit] if limit else sources
    labels = {s.path: s.gender.value for s in sources}
    earlier = never_fitted(data)
    older = {p: g for p, g in labels.items() if p.name in earlier}
    runs = [("shipped", None, []), ("network alone", None, ["--no-second-opinion"])]
    runs += [(f"against {against.name}", against, [])] if against else []
    verdicts = {}
    for name, weights, options in runs:
        verdicts[name], seconds = classify_photos(list(labels), device, weights, options)
        print(
            f"\n{name}: {len(labels)} photos classified in {seconds:.0f} s "
            f"({1000 * seconds / len(labels):.1f} ms a photo, model loading included)"
        )
    for title, subset in (
        (f"all {len(labels)} held-out CelebA photos", labels),
        (
            f"the {len(older)} of them every earlier model held out too (compare weights here)",
            older,
        ),
    ):
        print(f"\nend to end, `faceanon classify`: {title}")
        print(f"{'':<22}{'every photo (%)':>24}{'photos with a face (%)':>26}{'found':>8}")
        print(f"{'weights':<22}{'overall':>9}{'male':>7}{'female':>8}{'overall':>11}{'male':>7}"
              f"{'female':>8}{'(%)':>8}")  # fmt: skip
        for name, *_ in runs:
            print(end_to_end_row(name, subset, verdicts[name]))


def crops_accuracy(classifier: GenderClassifier, data: Path) -> None:
    from pipeline.training.classifier import CROP_SIZE, accuracy_table
    from pipeline.training.facecache import prepare_faces

    faces = prepare_faces(data, size=CROP_SIZE, splits={"val"}, quiet=True)
    table = accuracy_table(classifier.model, classifier.spec, faces.where("val"), classifier.device)
    print(
        f"\ngender/val tight crops ({table['count']} aligned): {table['overall']:.2f} % overall, "
        f"male {table['male']:.2f} %, female {table['female']:.2f} %"
    )


def second_opinion_speed(data: Path, batch: int = 8) -> None:
    """ms a face at batch 8 on real faces (the held-out photos, aligned as in training), as
    `faceanon classify` runs them: the network alone, and with its second opinion (asked about
    the share of faces the network is unsure of)."""
    from pipeline.align import align_face
    from pipeline.second_opinion import with_second_opinion
    from pipeline.training.classifier import CROP_SIZE
    from pipeline.training.facecache import prepare_faces

    faces = prepare_faces(data, size=CROP_SIZE, splits={"test"}, quiet=True).where("test")
    crops = [  # as AlignedCrops (the descriptor needs their landmarks)
        align_face(np.asarray(image), points, size=CROP_SIZE)
        for image, points in zip(faces.crops, faces.landmarks, strict=True)
    ]
    network = load_classifier(device="cpu")
    fused = with_second_opinion(network)
    print(f"\nspeed on {len(crops)} held-out faces, batch {batch}, ms per face (CPU)")
    for name, classifier in (("network alone", network), ("with second opinion", fused)):
        started = time.perf_counter()
        for start in range(0, len(crops), batch):
            classifier.classify(crops[start : start + batch])
        ms = 1000 * (time.perf_counter() - started) / len(crops)
        asked = getattr(classifier, "consulted", None)
        extra = f" ({asked} faces, {100 * asked / len(crops):.1f} %, described)" if asked else ""
        print(f"{name:<22}{ms:>8.2f}{extra}")


def per_face_ms(run, crops, repeats: int) -> float:
    run(crops)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(crops)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000 / len(crops)


def speed(classifier: GenderClassifier, device: torch.device) -> None:
    rng = np.random.default_rng(0)
    baseline = ResNet18().eval().to(device)

    def study_input(crops):
        x = torch.from_numpy(np.stack([c[16:240, 16:240] for c in crops])).to(device)
        with torch.inference_mode():
            baseline(x.permute(0, 3, 1, 2).float() / 255)

    served = load_classifier(device=device.type)  # what the CLI runs
    runtime = "ONNX Runtime" if served is not classifier and device.type == "cpu" else "torch"
    print(f"\nspeed on {device} ({torch.get_num_threads()} threads), ms per face")
    print(
        f"{'batch':>6}{'faceanon':>11}{'faces/s':>9}{'on torch':>10}{'224² ResNet-18':>16}"
        f"{'ratio':>7}   (faceanon: {runtime}; ratio: 224² over faceanon)"
    )
    for batch in (1, 8, 32):
        crops = [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(batch)]
        repeats = max(5, 64 // batch)
        ours = per_face_ms(served.probabilities, crops, repeats)
        torch_ms = per_face_ms(classifier.probabilities, crops, repeats)
        theirs = per_face_ms(study_input, crops, repeats)
        print(
            f"{batch:>6}{ours:>11.2f}{1000 / ours:>9.0f}{torch_ms:>10.2f}{theirs:>16.2f}"
            f"{theirs / ours:>7.1f}×"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--against", type=Path, default=None, help="baseline weights folder")
    parser.add_argument("--photos", type=int, default=None, help="default: every held-out one")
    args = parser.parse_args()
    classifier = GenderClassifier.load(device=args.device)
    spec = classifier.spec
    print(
        f"weights: {classifier.card['name']}, input {spec.width}×{spec.height} from window "
        f"{spec.window} of the aligned crop"
    )
    speed(classifier, classifier.device)
    if not (args.data / "celeba" / "images").is_dir():
        print(f"\n(no face data at {args.data}: accuracy skipped)")
        return
    end_to_end(args.data, args.device, args.against, args.photos)
    crops_accuracy(classifier, args.data)
    second_opinion_speed(args.data)


if __name__ == "__main__":
    main()
