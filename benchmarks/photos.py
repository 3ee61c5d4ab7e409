"""Held-out CelebA photos end to end through `faceanon image`: every photo has a face, and every
photo counts.

    .venv/bin/python benchmarks/photos.py [--photos N] [--detector KIND]

The photos are the held-out CelebA photos (`dataset.held_out_photos`: 20 % of each class, fixed
by a seed; the classifier never trained on them; the latent model, fitted earlier, never saw
the labels.csv photos among them), copied to a temporary folder and anonymized by one
`faceanon image DIR -o OUT --no-identity --report R` command. Printed: photos with a face found,
photos whose face was swapped (at least one swapped face), photos in which no face was found,
split by what became of them (covered whole, faceanon image's default, or written out unchanged
with `--no-face keep`: the face left raw, the failure that matters most), faces covered and
why, and the time per photo. Skipped with a message when the shared data is absent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.training.dataset import PHOTO, list_sources  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=None, help="default: all held out")
    parser.add_argument("--detector", default=None, help="default: faceanon's")
    args = parser.parse_args()
    if not (DATA / "celeba" / "images").is_dir():
        print(f"skipped: the shared face data is not at {DATA}")
        return
    held_out = [s.path for s in list_sources(DATA) if s.kind == PHOTO and s.split == "test"]
    held_out = held_out[: args.photos] if args.photos else held_out
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "in").mkdir()
        for path in held_out:
            shutil.copy(path, folder / "in" / path.name)
        command = [str(ROOT / ".venv" / "bin" / "faceanon"), "image", str(folder / "in")]
        command += ["-o", str(folder / "out"), "--no-identity", "--quiet"]
        command += ["--report", str(folder / "r.json")]
        command += ["--detector", args.detector] if args.detector else []
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        files = json.loads((folder / "r.json").read_text())["files"]
    count = len(files)
    found = sum(bool(f["faces"]) for f in files)
    swapped = sum(any(x["action"] == "swapped" for x in f["faces"]) for f in files)
    reasons = Counter(
        x.get("reason") for f in files for x in f["faces"] if x["action"] != "swapped"
    )
    faces = sum(len(f["faces"]) for f in files)

    def share(n: int) -> str:
        return f"{n}/{count} ({100 * n / count:.2f} %)"

    print(
        f"held-out CelebA photos: {count} (one face each), detector: {args.detector or 'default'}"
    )
    print(f"  face found:                      {share(found)}")
    print(f"  face swapped:                    {share(swapped)}")

    def unfound(became: str) -> list[str]:
        return sorted(Path(f["input"]).name for f in files if f.get("without_face") == became)

    covered, raw = unfound("covered"), unfound("kept")
    print(f"  no face found, covered whole:    {share(len(covered))} {' '.join(covered)}")
    print(f"  written out with the face raw:   {share(len(raw))} {' '.join(raw)}")
    print(f"  faces found in all: {faces}; covered: {sum(reasons.values())} {dict(reasons)}")
    print(f"  {seconds / count * 1000:.0f} ms a photo, the whole command")


if __name__ == "__main__":
    main()
