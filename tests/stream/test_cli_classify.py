"""`faceanon classify`: one csv row per face (`none` for an image without one), or json."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from stream.cli import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    path = tmp_path_factory.mktemp("blank") / "blank.png"
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(path)
    return path


def test_csv_rows_per_face(capsys, portrait, group, blank):
    code, out, err = run_cli(capsys, "classify", portrait, group, blank, "--device", "cpu")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["file", "gender", "confidence"]
    by_file: dict[str, list[dict]] = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    assert len(by_file[str(portrait)]) == 1 and len(by_file[str(group)]) == 4
    assert {r["gender"] for r in by_file[str(group)]} <= {"male", "female"}
    assert by_file[str(blank)] == [{"file": str(blank), "gender": "none", "confidence": ""}]
    for row in rows:
        if row["gender"] != "none":
            assert 0.5 <= float(row["confidence"]) <= 1.0


def test_json_lists_faces_with_boxes(capsys, group):
    code, out, _ = run_cli(capsys, "classify", group, "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert len(records) == 1 and len(records[0]["faces"]) == 4
    face = records[0]["faces"][0]
    assert set(face) == {"box", "gender", "confidence"}
    assert face["box"]["right"] > face["box"]["left"]


def test_missing_input_is_one_line(capsys, tmp_path):
    code, out, err = run_cli(capsys, "classify", tmp_path / "nope.jpg")
    assert code == 2 and out == ""
    assert err.startswith("faceanon: error:") and len(err.strip().splitlines()) == 1


def test_the_second_opinion_only_changes_unsure_faces(capsys, portrait, group):
    from pipeline.second_opinion import CARD_NAME
    from pipeline.weights import default_weights_dir

    gate = json.loads((default_weights_dir() / f"{CARD_NAME}.json").read_text())["rule"]["gate"]
    sure = 1 / (1 + math.exp(-gate))  # the network's confidence at the gate
    runs = []
    for option in ("--second-opinion", "--no-second-opinion"):
        code, out, err = run_cli(capsys, "classify", portrait, group, option)
        assert code == 0, err
        runs.append(list(csv.DictReader(io.StringIO(out))))
    with_it, alone = runs
    assert len(with_it) == len(alone) == 5
    for fused, network in zip(with_it, alone, strict=True):
        if float(network["confidence"]) >= sure:
            assert fused == network
