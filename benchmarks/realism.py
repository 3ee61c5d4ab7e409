"""Does the swap look like a real person of the other gender, and is it someone else?

    .venv/bin/python benchmarks/realism.py [--data ../shared/data] [--per-gender N]
        [--out out/realism] [--variant NAME='CLI OPTIONS' ...]

End to end through `faceanon image IN_DIR -o OUT_DIR --report r.json`, once per variant (by
default "class-mean pull", today's swap, as the baseline, and the shipped default), on the
held-out half of labelled CelebA (never fitted, calibrated or trained on). Every face the
default detector finds in an original counts, swapped or not. For each variant it prints:
- flip rate each way: the project's classifier as `faceanon classify` runs it on photos (the
  network with its second opinion) on the output face (at the re-detected box, or the
  original's when the face is no longer detected);
- still detected: the default detector finds the face again (IoU ≥ 0.3);
- no longer matched: dlib's recogniser puts output and original ≥ 0.6 apart;
- realism in dlib's 128-D descriptor space, per direction (e.g. men → women): the Fréchet
  distance between swapped faces and real held-out faces of the target gender (same count),
  over that of the unswapped faces (the same originals) to those real faces; and the spread
  ratio, the swapped faces' mean pairwise distance over the real faces'; beside the Fréchet
  ratio, its floor: the same ratio with as many other real held-out faces of the target gender
  (photos not among the sources) in place of the swapped ones, what a swap that made new real
  people would score. Gaussians fitted to a few hundred points in 128 dimensions differ even
  between two samples of the same people, so the floor is well above 0 and falls as the
  sample grows (0.33 at 100 faces a gender);
- paint: the mean grey-level change the output brings around the eyes of men turned women
  (make-up) and on jaw, chin and upper lip of women turned men (stubble), at the original's
  landmarks, over the faces the CLI swapped (negative: darker), mean and 10th percentile
  (the most darkened tenth);
- skin: on the skin (the face inside jaw and brows, without eyes, brows and mouth) at the
  original's landmarks, the colour shift ΔE (CIE76) of its mean colour, and its shading kept:
  the spread of its lightness after over before (1: as much shading as the original), over
  the faces the CLI swapped, and the shading for the quarter of them with the darkest skin;
- swap milliseconds per face (the report's swap timing).
Contact sheets (original above output) go to the git-ignored OUT folder: they show research
data and must never be committed.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.align import align_face
from pipeline.classify import GenderClassifier
from pipeline.detect import DetectorConfig, FaceDetector
from pipeline.landmarks import BROWS, LEFT_EYE, OUTER_LIPS, RIGHT_EYE, Landmarker, eye_span
from pipeline.latent.paint_guard import paint_change
from pipeline.second_opinion import with_second_opinion
from pipeline.similarity import SAME_PERSON_DISTANCE, IdentityEncoder
from pipeline.training.dataset import celeba_labels, celeba_split, held_out_photos, read_labels
from pipeline.types import Box, Gender

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_VARIANTS = ("class-mean pull=--identity-mode pull", "default=")
TILE = 128
# The judge looks for faces down to this share of the face's box width: at 0.8 its scan was so
# coarse that it missed 34 of 200 held-out originals themselves (and 42 of the swaps), at 0.4
# it finds all 200 originals (same photos, CenterFace).
JUDGE_SCALE = 0.4


@dataclass
class Judged:
    """What the judge sees of one face: descriptor, detection, verdict."""

    descriptor: np.ndarray
    detected: bool
    gender: Gender
    landmarks: np.ndarray  # where the judge fitted the face


@dataclass
class Variant:
    name: str
    options: list[str]
    faces: dict[str, Judged] = field(default_factory=dict)
    paint: dict[str, float] = field(default_factory=dict)  # grey levels, new gender's region
    skin: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # see skin_change
    report: dict = field(default_factory=dict)
    seconds: float = 0.0


def held_out(data: Path, per_gender: int, seed: int) -> dict[str, Gender]:
    """The labelled CelebA 'test' half (by the project's fixed split), `per_gender` of each."""
    listed = read_labels(data / "celeba" / "labels.csv")
    rows = sorted(r for r in listed.items() if celeba_split(r[0]) == "test")
    rng = np.random.default_rng(seed)
    chosen: dict[str, Gender] = {}
    for gender in Gender:
        names = [n for n, g in rows if g is gender]
        for i in sorted(rng.permutation(len(names))[:per_gender]):
            chosen[names[i]] = gender
    return chosen


def reference_photos(
    data: Path, chosen: dict[str, Gender], per_gender: int, seed: int
) -> dict[str, Gender]:
    """Other held-out CelebA photos (the classifier's hold-out, not among `chosen`),
    `per_gender` of each: real faces never swapped, for the Fréchet ratio's floor."""
    labels, listed = celeba_labels(data)
    pool = sorted(held_out_photos(labels, listed) - set(chosen))
    rng = np.random.default_rng(seed + 1)
    picked: dict[str, Gender] = {}
    for gender in Gender:
        names = [n for n in pool if labels[n] is gender]
        for i in sorted(rng.permutation(len(names))[:per_gender]):
            picked[names[i]] = gender
    return picked


class Judge:
    """The viewer's tools: the default detector, dlib's landmarks and recogniser, the
    project's classifier."""

    def __init__(self, second_opinion: bool = True) -> None:
        self.landmarker = Landmarker()
        self.encoder = IdentityEncoder(self.landmarker)
        network = GenderClassifier.load(device="cpu")
        self.classifier = with_second_opinion(network) if second_opinion else network

    def locate(self, image: np.ndarray) -> Box | None:
        """The largest face the default detector finds in an original."""
        found = FaceDetector(DetectorConfig(min_face=40)).detect(image)
        return max(found, key=lambda d: d.box.area).box if found else None

    def judge(self, image: np.ndarray, box: Box) -> Judged:
        min_face = int(np.clip(box.width * JUDGE_SCALE, 20, 400))
        found = FaceDetector(DetectorConfig(min_face=min_face)).detect(image)
        match = max(found, key=lambda d: d.box.iou(box), default=None)
        detected = match is not None and match.box.iou(box) >= 0.3
        judged = match.box if detected else box
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        points = self.landmarker.fit(gray, judged)
        verdict = self.classifier.classify([align_face(image, points)])[0]
        descriptor = self.encoder.descriptor(image, judged)
        return Judged(descriptor, detected, verdict.gender, points)


def run_cli(inputs: Path, out: Path, options: list[str]) -> tuple[dict, float]:
    """`faceanon image` on a folder; its report and the wall time."""
    out.mkdir(parents=True, exist_ok=True)
    report = out.parent / f"{out.name}-report.json"
    command = [
        sys.executable,
        "-c",
        "from stream.cli import main; main()",
        "image",
        str(inputs),
        "-o",
        str(out),
        "--report",
        str(report),
        "--no-identity",
        "--device",
        "cpu",
        "--quiet",
        *options,
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(report.read_text()), time.perf_counter() - started


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of descriptors."""
    mu = a.mean(axis=0) - b.mean(axis=0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(ca @ cb).real
    return float(mu @ mu + np.trace(ca + cb - 2 * root))


def spread(a: np.ndarray) -> float:
    """Mean pairwise Euclidean distance."""
    d = np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(axis=2))
    return float(d[np.triu_indices(len(a), 1)].mean())


def same_count(a: np.ndarray, b: np.ndarray, rng: np.random.Generator):
    n = min(len(a), len(b))
    return a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]


def figures(
    variant: Variant,
    originals: dict[str, Judged],
    labels: dict[str, Gender],
    seed: int,
    references: dict[Gender, np.ndarray],
) -> dict:
    names = list(originals)
    out: dict = {"variant": variant.name, "options": " ".join(variant.options), "faces": len(names)}
    identity = variant.report.get("settings", {}).get("identity", {})
    out["identity"] = identity.get("label", "none")
    swapped = swapped_files(variant.report)
    out["cli_swapped_faces"] = sum(n in swapped for n in names)
    for gender in Gender:
        mine = [n for n in names if labels[n] is gender]
        flipped = sum(variant.faces[n].gender is gender.opposite for n in mine)
        out[f"flip_{gender.value}_percent"] = round(100 * flipped / len(mine), 2)
        mine = [n for n in mine if n in swapped]  # those the CLI swapped (not covered)
        flipped = sum(variant.faces[n].gender is gender.opposite for n in mine)
        out[f"flip_{gender.value}_percent_of_swapped"] = round(100 * flipped / max(1, len(mine)), 2)
    was = [n for n in names if originals[n].detected]
    out["still_detected_percent"] = round(
        100 * sum(variant.faces[n].detected for n in was) / len(was), 2
    )
    distances = [
        float(np.linalg.norm(variant.faces[n].descriptor - originals[n].descriptor)) for n in names
    ]
    out["no_longer_matched_percent"] = round(
        100 * float(np.mean(np.array(distances) >= SAME_PERSON_DISTANCE)), 2
    )
    for gender in Gender:
        key = f"{gender.value}_to_{gender.opposite.value}"
        source = [n for n in names if labels[n] is gender]
        real = np.stack([originals[n].descriptor for n in names if labels[n] is gender.opposite])
        reference = references[gender.opposite]
        out.update(realism(variant, originals, source, real, reference, key, seed))
        kept = [n for n in source if n in swapped]  # without the faces the CLI covered
        part = realism(variant, originals, kept, real, None, key, seed)  # no floor needed
        out.update({f"{k}_of_swapped": v for k, v in part.items() if not k.startswith("frechet_")})
        out[f"frechet_ratio_{key}_of_swapped"] = part[f"frechet_ratio_{key}"]
    for gender in Gender:
        mine = [n for n in names if labels[n] is gender and n in swapped]
        key = f"paint_{gender.value}_to_{gender.opposite.value}"
        skin = np.array([variant.skin[n] for n in mine]).reshape(-1, 3)
        out[f"skin_delta_e_{key[6:]}"] = round(float(skin[:, 0].mean()), 2) if mine else None
        out[f"shading_kept_{key[6:]}"] = round(float(skin[:, 1].mean()), 3) if mine else None
        darkest = skin[skin[:, 2] <= np.percentile(skin[:, 2], 25), 1] if mine else skin[:0, 1]
        out[f"shading_kept_darkest_quarter_{key[6:]}"] = (
            round(float(darkest.mean()), 3) if len(darkest) else None
        )
        changes = [variant.paint[n] for n in mine]
        out[key] = round(float(np.mean(changes)), 2) if mine else None
        out[f"{key}_p10"] = round(float(np.percentile(changes, 10)), 2) if mine else None
    totals = variant.report.get("totals", {})
    swapped_faces = max(1, totals.get("swapped", 0))
    out["swap_ms_per_face"] = round(
        totals.get("timings_ms", {}).get("swap", 0.0) / swapped_faces, 2
    )
    out["faces_found_by_cli"] = totals.get("faces_found")
    out["cli_seconds"] = round(variant.seconds, 1)
    return out


def realism(
    variant: Variant,
    originals: dict[str, Judged],
    source: list[str],
    real: np.ndarray,
    reference: np.ndarray | None,
    key: str,
    seed: int,
) -> dict:
    """Fréchet ratio and spread ratio of the swapped `source` faces against `real` faces of
    the target gender (same count), the unswapped originals of `source` as the baseline; and
    the ratio's floor, as many `reference` faces (other real faces of the target gender) in
    place of the swapped ones (None without them, or when there are too few)."""
    swapped = np.stack([variant.faces[n].descriptor for n in source])
    before = np.stack([originals[n].descriptor for n in source])
    s, r = same_count(swapped, real, np.random.default_rng(seed))
    b, r2 = same_count(before, real, np.random.default_rng(seed))
    unswapped = frechet(b, r2)
    floor = None
    if reference is not None and len(reference) >= len(b):
        pick = np.random.default_rng(seed).permutation(len(reference))[: len(b)]
        floor = round(frechet(reference[pick], r2) / unswapped, 3)
    distance = frechet(s, r)
    return {
        f"frechet_ratio_{key}": round(distance / unswapped, 3),
        f"frechet_floor_{key}": floor,
        f"frechet_{key}": round(distance, 4),
        f"frechet_unswapped_{key}": round(unswapped, 4),
        f"spread_ratio_{key}": round(spread(s) / spread(r), 3),
        f"compared_faces_{key}": len(s),
    }


def skin_change(
    before: np.ndarray, after: np.ndarray, landmarks: np.ndarray
) -> tuple[float, float, float]:
    """On the skin at `landmarks`: ΔE (CIE76) between the mean colours before and after, the
    lightness spread after over before, and the skin's mean lightness before (0-100)."""
    points = np.round(landmarks).astype(np.int32)
    face = np.zeros(before.shape[:2], np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(points[:27]), 1)
    holes = np.zeros_like(face)
    for part in (LEFT_EYE, RIGHT_EYE, *BROWS, OUTER_LIPS):
        cv2.fillConvexPoly(holes, cv2.convexHull(points[part]), 1)
    span = eye_span(points)
    grow = max(1, round(0.15 * span))
    holes = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    skin = (face > 0) & (holes == 0)
    if skin.sum() < 20:
        return 0.0, 1.0, 0.0
    # OpenCV's 8-bit Lab: L scaled by 255/100, a and b offset by 128
    scale = np.array([100 / 255, 1.0, 1.0], np.float32)
    lab = [
        cv2.cvtColor(i, cv2.COLOR_BGR2LAB)[skin].astype(np.float32) * scale for i in (before, after)
    ]
    delta_e = float(np.linalg.norm(lab[1].mean(axis=0) - lab[0].mean(axis=0)))
    shading = float(lab[1][:, 0].std() / max(float(lab[0][:, 0].std()), 1e-6))
    return delta_e, shading, float(lab[0][:, 0].mean())


def swapped_files(report: dict) -> set[str]:
    """Names of the inputs whose every face the CLI swapped (none covered)."""
    return {
        Path(entry["input"]).name
        for entry in report.get("files", [])
        if entry["faces"] and all(f["action"] == "swapped" for f in entry["faces"])
    }


def contact_sheet(
    path: Path, inputs: Path, outputs: Path, names: list[str], boxes: dict[str, Box]
) -> None:
    columns = []
    for name in names:
        before, after = cv2.imread(str(inputs / name)), cv2.imread(str(outputs / name))
        if after is None:
            continue
        columns.append(np.vstack([_tile(before, boxes[name]), _tile(after, boxes[name])]))
    rows = [np.hstack(columns[i : i + 8]) for i in range(0, len(columns) - 7, 8)]
    if rows:
        cv2.imwrite(str(path), np.vstack(rows))


def _tile(frame: np.ndarray, box: Box) -> np.ndarray:
    grown = box.expanded(1.6)
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(grown.left)), max(0, int(grown.top))
    x1, y1 = min(w, int(grown.right)), min(h, int(grown.bottom))
    return cv2.resize(frame[y0:y1, x0:x1], (TILE, TILE), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-gender", type=int, default=1000, help="faces of each gender")
    parser.add_argument("--out", type=Path, default=Path("out/realism"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet-faces", type=int, default=32)
    parser.add_argument(
        "--judge-network-alone",
        action="store_true",
        help="judge flips by the network without its second opinion (as before it existed)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=None,
        help="NAME=OPTIONS for `faceanon image` (repeatable); default: "
        + ", ".join(repr(v) for v in DEFAULT_VARIANTS),
    )
    args = parser.parse_args()
    if not (args.data / "celeba" / "labels.csv").is_file():
        sys.exit(f"realism: no shared data at {args.data} (celeba/labels.csv)")
    labels = held_out(args.data, args.per_gender, args.seed)
    inputs = args.out / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    for name in labels:
        link = inputs / name
        if not link.exists():
            link.symlink_to((args.data / "celeba" / "images" / name).resolve())
    judge = Judge(second_opinion=not args.judge_network_alone)
    boxes, originals = judge_originals(judge, inputs, list(labels), args.out / "originals.pkl")
    print(
        f"held-out CelebA: {len(labels)} photos, {len(originals)} with a face the default "
        f"detector finds ({judge_detector()}); every one of those counts",
        flush=True,
    )
    others = reference_photos(args.data, labels, args.per_gender, args.seed)
    _, judged = judge_originals(
        judge, args.data / "celeba" / "images", list(others), args.out / "references.pkl"
    )
    references = {
        g: np.stack([j.descriptor for n, j in judged.items() if others[n] is g]) for g in Gender
    }
    print(
        "Fréchet floor: "
        + ", ".join(f"{len(references[g])} other real {g.value} faces" for g in Gender),
        flush=True,
    )
    variants: list[Variant] = []
    rows: list[dict] = []  # each variant's figures, worked out once
    for spec in args.variant or DEFAULT_VARIANTS:
        name, _, options = spec.partition("=")
        variant = Variant(name, shlex.split(options))
        folder = args.out / name.replace(" ", "-").replace("=", "")
        variant.report, variant.seconds = run_cli(inputs, folder, variant.options)
        for face in originals:
            image = cv2.imread(str(folder / face))
            variant.faces[face] = judge.judge(image, boxes[face])
            original = cv2.imread(str(inputs / face))
            change = paint_change(original, image, originals[face].landmarks)
            variant.paint[face] = change[labels[face].opposite]
            variant.skin[face] = skin_change(original, image, originals[face].landmarks)
        half = args.sheet_faces // 2
        sheet = [n for g in Gender for n in [m for m in originals if labels[m] is g][:half]]
        contact_sheet(args.out / f"sheet-{folder.name}.png", inputs, folder, sheet, boxes)
        variants.append(variant)
        rows.append(figures(variant, originals, labels, args.seed, references))
        print(json.dumps(rows[-1]), flush=True)
    baseline = rows[0]
    for variant, row in zip(variants[1:], rows[1:], strict=True):
        ratios = {
            k: round(row[k] / baseline[k], 3)
            for k in row
            if k.startswith(("spread_ratio", "frechet_ratio", "swap_ms")) and baseline[k]
        }
        print(f"{variant.name} over {variants[0].name}: {json.dumps(ratios)}")


def judge_originals(
    judge: Judge, inputs: Path, names: list[str], cache: Path
) -> tuple[dict[str, Box], dict[str, Judged]]:
    """Locate and judge every original once (kept in `cache`, under the git-ignored OUT, for
    the next run on the same photos with the same detector)."""
    key = (names, judge_detector(), "landmarks", JUDGE_SCALE)
    if cache.is_file():
        saved = pickle.loads(cache.read_bytes())
        if saved[0] == key:
            return saved[1], saved[2]
    boxes: dict[str, Box] = {}
    originals: dict[str, Judged] = {}
    for name in names:
        image = cv2.imread(str(inputs / name))
        box = judge.locate(image)
        if box is not None:
            boxes[name] = box
            originals[name] = judge.judge(image, box)
    cache.write_bytes(pickle.dumps((key, boxes, originals)))
    return boxes, originals


def judge_detector() -> str:
    return f"dlib {FaceDetector(DetectorConfig()).kind}"


if __name__ == "__main__":
    main()
