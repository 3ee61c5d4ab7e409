"""Fit and check the mapping from CenterFace's five points to the box dlib's landmarks expect.

    .venv/bin/python benchmarks/box_mapping.py [--photos 500]

dlib's 68-point predictor was trained on HOG boxes (brows to chin); CenterFace's boxes run from
forehead to chin and its five points (eyes, nose tip, mouth corners) locate the face better.
On unlabelled CelebA photos (never held out for any figure) upscaled 2× so that HOG finds the
face, every other photo fits the mapping (medians of the shift and side over a scale
from the points) and the rest check it: the IoU of the mapped box with HOG's, beside that of
CenterFace's own box under the best box-only mapping, and how far the 68 landmarks fitted in
the mapped box lie from those fitted in HOG's box (median over points, in eye distances).
The constants printed are the ones `pipeline/detect.py` uses.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import centerface, models
from pipeline.detect import five_point_frame
from pipeline.landmarks import Landmarker, eye_span
from pipeline.training.dataset import list_sources
from pipeline.types import Box

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pairs(count: int) -> list[tuple[np.ndarray, Box, centerface.Hit]]:
    """(image at 2×, HOG box, CenterFace hit) for photos where both find the one face."""
    sources = [s for s in list_sources(DATA) if s.kind == "photo" and s.split == "unlabelled"]
    random.Random(5).shuffle(sources)
    found = []
    for source in sources[:count]:
        image = cv2.imread(str(source.path))
        big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
        rects = models.hog_detector()(cv2.cvtColor(big, cv2.COLOR_BGR2RGB), 0)
        hits = centerface.detect(big)
        if len(rects) != 1 or not hits:
            continue
        r = rects[0]
        hog = Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1)
        hit = max(hits, key=lambda h: h.box.iou(hog))
        if hit.box.iou(hog) >= 0.2:
            found.append((big, hog, hit))
    return found


def square(centre: np.ndarray, side: float) -> Box:
    return Box(
        centre[0] - side / 2, centre[1] - side / 2, centre[0] + side / 2, centre[1] + side / 2
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=500)
    args = parser.parse_args()
    if not (DATA / "celeba" / "images").is_dir():
        print(f"skipped: the shared face data is not at {DATA}")
        return
    found = pairs(args.photos)
    fit, check = found[0::2], found[1::2]
    print(f"{len(found)} photos where HOG (2×) and CenterFace both find the face: ")
    print(f"{len(fit)} fit the mapping, {len(check)} check it")

    def centre_of(box: Box) -> np.ndarray:
        return np.array(box.center)

    shifts, sides, box_shifts, box_sides = [], [], [], []
    for _, hog, hit in fit:
        centre, scale = five_point_frame(hit.points)
        shifts.append((centre_of(hog) - centre) / scale)
        sides.append(hog.width / scale)
        box_shifts.append((centre_of(hog) - centre_of(hit.box)) / [hit.box.width, hit.box.height])
        box_sides.append(hog.width / hit.box.width)
    shift, side = np.median(shifts, axis=0), float(np.median(sides))
    box_shift, box_side = np.median(box_shifts, axis=0), float(np.median(box_sides))
    print(f"POINTS_SHIFT = ({shift[0]:.3f}, {shift[1]:.3f}); POINTS_SIDE = {side:.3f}")

    landmarker = Landmarker()
    ious, box_ious, offsets = [], [], []
    for image, hog, hit in check:
        centre, scale = five_point_frame(hit.points)
        mapped = square(centre + shift * scale, side * scale)
        from_box = square(
            centre_of(hit.box) + box_shift * [hit.box.width, hit.box.height],
            box_side * hit.box.width,
        )
        ious.append(mapped.iou(hog))
        box_ious.append(from_box.iou(hog))
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        ours, theirs = landmarker.fit(gray, mapped), landmarker.fit(gray, hog)
        eyes = eye_span(theirs)
        offsets.append(np.median(np.linalg.norm(ours - theirs, axis=1)) / eyes)
    for name, values in (("five points", ious), ("CenterFace box only", box_ious)):
        print(
            f"IoU with HOG's box, {name:20}: median {np.median(values):.3f}, "
            f"10th percentile {np.percentile(values, 10):.3f}"
        )
    print(
        "landmarks in the mapped box against landmarks in HOG's box, median point distance: "
        f"median {np.median(offsets):.3f}, 90th percentile {np.percentile(offsets, 90):.3f} "
        "eye distances"
    )


if __name__ == "__main__":
    main()
