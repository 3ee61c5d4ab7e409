"""Contact sheets for looking at swaps: held-out real faces, original above swapped.

    .venv/bin/python benchmarks/contact_sheet.py [--data ../shared/data] [--faces 24]
        [--strength A] [--identity-pull P] [--out out/contact]

Faces come from the labelled CelebA 'test' half (never fitted on). Each column shows the frame
around the face before and after the whole pipeline (swap, paste back), with the true gender
and what the project's classifier says afterwards. The sheets are written under a git-ignored
folder: they show research data and must never be committed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.align import align_face
from pipeline.classify import GenderClassifier
from pipeline.detect import FaceDetector
from pipeline.facepipeline import FacePipeline, PipelineOptions
from pipeline.landmarks import Landmarker
from pipeline.latent.swapper import LatentSwapper
from pipeline.swap import LatentChoices
from pipeline.training.dataset import never_fitted
from pipeline.training.facecache import prepare_faces
from pipeline.training.swap_eval import KnownGender, load_cases

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TILE = 160


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--faces", type=int, default=24)
    parser.add_argument("--strength", type=float, default=None)
    parser.add_argument("--identity-pull", type=float, default=None)
    parser.add_argument("--out", type=Path, default=Path("out/contact"))
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/faces"))
    args = parser.parse_args()
    if not (args.data / "celeba").is_dir():
        sys.exit(f"contact_sheet: no shared data at {args.data}")

    faces = prepare_faces(args.data, 192, args.cache_dir, quiet=True, splits={"test"})
    test = faces.where("test")
    test = test.of_files(never_fitted(args.data))
    pick = np.random.default_rng(0).permutation(len(test))[: args.faces]
    cases = load_cases(args.data, test.names[pick], test.labels[pick], quiet=True)
    classifier = GenderClassifier.load(device="cpu")
    swapper = LatentSwapper.load(choices=LatentChoices(identity_pull=args.identity_pull))
    pipeline = FacePipeline(
        FaceDetector(),
        Landmarker(),
        classifier,
        swapper,
        PipelineOptions(strength=args.strength, identity=False),
    )
    columns = []
    for case in cases:
        result = pipeline.process_faces(case.frame, [case.face], policy=KnownGender(case.gender))
        judged = classifier.classify([align_face(result.image, case.face.landmarks)])[0]
        before = _tile(case.frame, case.face.box)
        after = _tile(result.image, case.face.box)
        label = f"{case.gender.value[0]}>{judged.gender.value[0]} {judged.confidence:.2f}"
        cv2.putText(after, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1)
        columns.append(np.vstack([before, after]))
    args.out.mkdir(parents=True, exist_ok=True)
    alpha = args.strength if args.strength is not None else swapper.default_strength
    rows = [np.hstack(columns[i : i + 8]) for i in range(0, len(columns) - 7, 8)]
    pull = swapper.identity_pull
    path = args.out / f"swaps_alpha_{alpha:g}_pull_{pull:g}.png"
    cv2.imwrite(str(path), np.vstack(rows))
    print(f"contact sheet: {path} ({len(rows) * 8} faces, α = {alpha:g}, identity pull {pull:g})")


def _tile(frame: np.ndarray, box) -> np.ndarray:
    """The face box grown to show forehead, hair and chin, resized to a square tile."""
    grown = box.expanded(1.8)
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(grown.left)), max(0, int(grown.top))
    x1, y1 = min(w, int(grown.right)), min(h, int(grown.bottom))
    return cv2.resize(frame[y0:y1, x0:x1], (TILE, TILE), interpolation=cv2.INTER_AREA)


if __name__ == "__main__":
    main()
