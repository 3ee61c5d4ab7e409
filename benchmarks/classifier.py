"""Gender classifier: held-out accuracy and faces per second at batch 1, 8 and 32.

    .venv/bin/python benchmarks/classifier.py [--data ../shared/data] [--device auto]

Accuracy is measured on the faces no training run saw (gender/val and the CelebA 'test' half),
aligned by the pipeline itself, with the shipped float16 weights. Speed is the classifier call
alone (window cut, normalisation, network with mirror averaging) on 256-pixel aligned crops,
median of repeated runs, measured in this run; the table also gives the ResNet-18 at 224×224
(the study's input size) as the baseline, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.classify import GenderClassifier
from pipeline.resnet import ResNet18

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def accuracy(classifier: GenderClassifier, data: Path) -> None:
    from pipeline.training.classifier import CROP_SIZE, accuracy_table
    from pipeline.training.facecache import prepare_faces

    faces = prepare_faces(data, size=CROP_SIZE)
    print("\nheld-out accuracy (percent)")
    print(f"{'set':<18}{'faces':>7}{'overall':>9}{'male':>8}{'female':>8}")
    for name, split in (("gender/val", "val"), ("celeba held-out", "test")):
        table = accuracy_table(
            classifier.model, classifier.spec, faces.where(split), classifier.device
        )
        print(
            f"{name:<18}{table['count']:>7}{table['overall']:>9.2f}{table['male']:>8.2f}"
            f"{table['female']:>8.2f}"
        )


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

    print(f"\nspeed on {device} ({torch.get_num_threads()} threads), ms per face")
    print(f"{'batch':>6}{'faceanon':>11}{'faces/s':>9}{'224² ResNet-18':>16}{'ratio':>7}")
    for batch in (1, 8, 32):
        crops = [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(batch)]
        repeats = max(5, 64 // batch)
        ours = per_face_ms(classifier.probabilities, crops, repeats)
        theirs = per_face_ms(study_input, crops, repeats)
        print(f"{batch:>6}{ours:>11.2f}{1000 / ours:>9.0f}{theirs:>16.2f}{theirs / ours:>7.1f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    classifier = GenderClassifier.load(device=args.device)
    spec = classifier.spec
    print(
        f"weights: {classifier.card['name']}, input {spec.width}×{spec.height} from window "
        f"{spec.window} of the aligned crop"
    )
    speed(classifier, classifier.device)
    if (args.data / "gender").is_dir():
        accuracy(classifier, args.data)
    else:
        print(f"\n(no face data at {args.data}: accuracy skipped)")


if __name__ == "__main__":
    main()
