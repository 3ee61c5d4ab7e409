"""`faceanon classify`: one csv row per face (`none` for an image without one), or json."""

from __future__ import annotations

import csv
import io
import json

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
