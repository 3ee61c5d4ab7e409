"""`faceanon image`: which files go where, then anonymize them one by one (every page of a
multi-page TIFF)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.errors import InputError
from pipeline.facepipeline import FacePipeline
from pipeline.obscure import obscure_whole

from .atomic import check_writable_folder, make_folder, same_file
from .images import SUFFIX_FORMATS, check_pages_fit, output_format, read_pages, write_pages
from .report import Tally, face_record

IMAGE_SUFFIXES = frozenset(SUFFIX_FORMATS) | {".gif", ".svg"}


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a folder stands for the image files directly inside it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                raise InputError(f"{path}: folder holds no image files")
            files.extend(found)
        elif not path.exists():
            raise InputError(f"{path}: no such file or folder")
        else:
            files.append(path)
    return files


def plan_outputs(inputs: list[Path], output: Path, several: bool) -> list[tuple[Path, Path]]:
    """Pair each input with its output path; refuse collisions and writing over an input.

    One input and an output with a suffix: that file (an unsupported suffix is refused).
    Otherwise (several inputs, an existing folder, a name without a suffix) the output is a
    folder, created if missing, and each output keeps its input's name.
    """
    to_folder = several or output.is_dir() or not output.suffix
    if to_folder:
        if output.exists() and not output.is_dir():
            raise InputError(f"{output} is a file; several inputs need an output folder")
        make_folder(output)
        pairs = [(path, output / path.name) for path in inputs]
    else:
        make_folder(output.parent)
        pairs = [(inputs[0], output)]
    seen: dict[Path, Path] = {}
    for source, target in pairs:
        output_format(target)
        key = Path(os.path.abspath(target))
        if key in seen:
            raise InputError(f"{seen[key]} and {source} would both be written to {target}")
        seen[key] = source
        if Path(os.path.abspath(source)) == key or same_file(source, target):
            raise InputError(f"refusing to write over the input {source}; choose another output")
    for folder in {target.parent for _, target in pairs}:
        check_writable_folder(folder)
    return pairs


def validate(pairs: list[tuple[Path, Path]]) -> int:
    """Decode every input once before any output is written, so bad input fails fast (a
    multi-page input needs an output that keeps its pages); return the number of pages."""
    pages = 0
    for source, target in pairs:
        count = len(read_pages(source))
        check_pages_fit(target, count, source)
        pages += count
    return pages


def run_images(
    pairs: list[tuple[Path, Path]],
    pipeline: FacePipeline,
    quiet: bool = False,
    no_face: str = "keep",
) -> tuple[Tally, list[dict[str, Any]]]:
    """Anonymize each input into its output; return the totals and per-file records.
    `no_face`: "cover" covers a page in which no face was found whole, "keep" writes it out
    unchanged (see `build.NO_FACE_CHOICES`)."""
    totals = Tally()
    records = []
    mode = getattr(getattr(pipeline, "swapper", None), "identity", None)
    identity = mode.label if mode is not None else None
    for source, target in tqdm(pairs, desc="images", unit="image", disable=quiet or len(pairs) < 2):
        pages = read_pages(source)
        check_pages_fit(target, len(pages), source)
        results = [pipeline.process(page.bgr) for page in pages]
        faceless = [not result.faces for result in results]
        images = [
            obscure_whole(result.image) if none and no_face == "cover" else result.image
            for result, none in zip(results, faceless, strict=True)
        ]
        write_pages(target, pages, images)
        tally = Tally()
        for result in results:
            totals.add(result)
            tally.add(result)
        records.append(
            {
                "input": str(source),
                "output": str(target),
                "pages": len(pages),
                # pages in which no face was found, and what became of them
                "pages_without_face": sum(faceless),
                "without_face": ("covered" if no_face == "cover" else "kept")
                if any(faceless)
                else None,
                **{
                    k: v
                    for k, v in tally.summary().items()
                    if k
                    not in (
                        "frames",
                        "frames_with_faces",
                        "max_faces_in_frame",
                        "mean_faces_per_frame",
                    )
                },
                "faces": [
                    {**face_record(outcome, identity), "page": number}
                    for number, result in enumerate(results, 1)
                    for outcome in result.faces
                ],
            }
        )
    return totals, records
