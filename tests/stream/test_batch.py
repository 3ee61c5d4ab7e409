"""`faceanon batch`: folders mirrored, media found by content, names that collide, --glob,
skip-existing and --overwrite, changed inputs, failures recorded, bad usage."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from batchtools import FAST, frame_times, manifest_rows, partials, run_cli
from clips import shapes_frame, write_clip
from PIL import Image


def still(path, fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(shapes_frame(2, 120, 90)[..., ::-1]).save(path, format=fmt)
    return path


@pytest.fixture
def tree(tmp_path):
    """A small CCTV-like archive: clips in nested folders, stills, and files that are not
    media (one of them with a video suffix)."""
    root = tmp_path / "in"
    (root / "cam1" / "day2").mkdir(parents=True)
    write_clip(root / "a.mp4", frames=12)
    write_clip(root / "cam1" / "b.mkv", frames=9, audio="aac")
    write_clip(root / "cam1" / "day2" / "c.mov", frames=7)
    still(root / "cam1" / "still.png")
    still(root / "cam1" / "snapshot", fmt="JPEG")  # no suffix: found by content
    (root / "notes.txt").write_text("not a video\n")
    (root / "cam1" / "fake.mp4").write_bytes(b"this is no video at all" * 10)
    return root


def test_nested_folders_are_mirrored_and_only_media_processed(tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli("batch", tree, "-o", out, "--workers", "2", "--reports", *FAST) == 0
    assert capsys.readouterr().out == ""
    assert len(frame_times(out / "a.mp4")) == 12
    assert len(frame_times(out / "cam1" / "b.mkv")) == 9
    assert len(frame_times(out / "cam1" / "day2" / "c.mov")) == 7
    assert Image.open(out / "cam1" / "still.png").size == (120, 90)
    assert Image.open(out / "cam1" / "snapshot.jpg").format == "JPEG"
    rows = manifest_rows(out)
    assert set(rows) == {
        "a.mp4",
        "cam1/b.mkv",
        "cam1/day2/c.mov",
        "cam1/still.png",
        "cam1/snapshot",
    }
    assert all(r["state"] == "done" and r["finished"] == 1 for r in rows.values())
    assert rows["cam1/snapshot"]["note"] == "image (no suffix) written as .jpg"
    assert len(rows["a.mp4"]["hash"]) == 40 and rows["a.mp4"]["frames"] == 12
    report = json.loads((out / "batch-report.json").read_text())
    assert report["command"] == "batch" and report["settings"]["mode"] == "blur"
    assert report["settings"]["min_face_fraction"] == 1 / 20  # CCTV: small faces too
    assert report["settings"]["detect_threads"] >= 1  # the cores shared among local workers
    assert sorted(report["not_media"]) == ["cam1/fake.mp4", "notes.txt"]
    assert report["totals"]["files"] == 5 and report["totals"]["done"] == 5
    assert report["totals"]["frames"] == 12 + 9 + 7 + 1 + 1
    table = list(csv.DictReader((out / "batch-report.csv").open()))
    assert [r["input"] for r in table][-1] == "TOTAL" and table[-1]["frames"] == "30"
    assert {"input", "output", "state", "reason", "frames", "faces", "swapped", "blurred",
            "failed", "seconds"} <= set(table[0])  # fmt: skip
    assert partials(out) == [] and not (out / ".faceanon-parts").exists()
    video = json.loads((out / "cam1" / "b.mkv.report.json").read_text())
    assert video["totals"]["frames"] == 9 and video["files"][0]["output"].endswith("b.mkv")
    image = json.loads((out / "cam1" / "still.png.report.json").read_text())
    assert image["totals"]["frames"] == 1


def test_finished_files_are_skipped_changed_ones_redone_and_overwrite_redoes_all(tree, tmp_path):
    out = tmp_path / "out"
    args = ("batch", tree, "-o", out, "--workers", "1", "--glob", "*.mov", "--glob", "a.*")
    assert run_cli(*args, *FAST) == 0
    first = {p: (out / p).stat().st_mtime_ns for p in ("a.mp4", "cam1/day2/c.mov")}
    assert run_cli(*args, *FAST) == 0  # nothing left to do
    assert {p: (out / p).stat().st_mtime_ns for p in first} == first
    assert all(r["started"] == r["finished"] == 1 for r in manifest_rows(out).values())

    write_clip(tree / "cam1" / "day2" / "c.mov", frames=5)  # the input changed
    (out / "a.mp4").unlink()  # an output went missing
    assert run_cli(*args, *FAST) == 0  # both are made again
    rows = manifest_rows(out)
    assert rows["cam1/day2/c.mov"]["finished"] == 2 and rows["a.mp4"]["finished"] == 2
    assert len(frame_times(out / "cam1" / "day2" / "c.mov")) == 5
    assert len(frame_times(out / "a.mp4")) == 12

    assert run_cli(*args, "--overwrite", *FAST) == 0
    rows = manifest_rows(out)
    assert (rows["a.mp4"]["finished"], rows["cam1/day2/c.mov"]["finished"]) == (3, 3)


def test_glob_selects_relative_paths(tree, tmp_path):
    out = tmp_path / "out"
    assert run_cli("batch", tree, "-o", out, "--glob", "cam1/*", "--workers", "1", *FAST) == 0
    assert set(manifest_rows(out)) == {
        "cam1/b.mkv",
        "cam1/day2/c.mov",
        "cam1/still.png",
        "cam1/snapshot",
    }
    report = json.loads((out / "batch-report.json").read_text())
    assert report["filtered_out"] == 2  # a.mp4 and notes.txt
    assert not (out / "a.mp4").exists()


def test_colliding_output_names_are_resolved_the_same_way_every_time(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    write_clip(root / "a.mp4", frames=6)
    write_clip(root / "a.avi", frames=8)  # would become a.mp4 too
    write_clip(root / "b.avi", frames=5)  # no clash: plain .avi → .mp4
    still(root / "p.png")
    still(root / "p")  # PNG without a suffix: would become p.png
    assert run_cli("batch", root, "-o", out, "--workers", "2", *FAST) == 0
    rows = manifest_rows(out)
    outputs = {rel: row["output"] for rel, row in rows.items()}
    assert outputs == {
        "a.mp4": "a.mp4",
        "a.avi": "a.avi.mp4",
        "b.avi": "b.mp4",
        "p.png": "p.png",
        "p": "p.2.png",
    }
    assert rows["a.avi"]["note"] == "container .avi written as .mp4; a.mp4 was taken"
    assert rows["b.avi"]["note"] == "container .avi written as .mp4"
    assert len(frame_times(out / "a.mp4")) == 6 and len(frame_times(out / "a.avi.mp4")) == 8
    # A new file that would take an existing output's name never displaces it.
    write_clip(root / "b.mov", frames=4)
    write_clip(root / "b.mp4", frames=3)
    assert run_cli("batch", root, "-o", out, "--workers", "1", *FAST) == 0
    rows = manifest_rows(out)
    assert rows["b.avi"]["output"] == "b.mp4" and rows["b.avi"]["finished"] == 1
    assert rows["b.mp4"]["output"] == "b.2.mp4" and rows["b.mov"]["output"] == "b.mov"
    assert len(frame_times(out / "b.mp4")) == 5 and len(frame_times(out / "b.2.mp4")) == 3


def test_a_failing_file_is_recorded_and_the_others_finish(tmp_path, capsys):
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    write_clip(root / "good1.mp4", frames=6)
    write_clip(root / "good2.mkv", frames=6)
    data = still(root / "damaged.png").read_bytes()
    (root / "damaged.png").write_bytes(data[: len(data) // 2])  # header intact, pixels cut
    fast = [a for a in FAST if a != "--quiet"]
    assert run_cli("batch", root, "-o", out, "--workers", "2", *fast) == 1
    rows = manifest_rows(out)
    assert rows["damaged.png"]["state"] == "failed"
    assert "truncated or damaged" in rows["damaged.png"]["reason"]
    assert "\n" not in rows["damaged.png"]["reason"]
    assert rows["good1.mp4"]["state"] == rows["good2.mkv"]["state"] == "done"
    table = {r["input"]: r for r in csv.DictReader((out / "batch-report.csv").open())}
    assert table["damaged.png"]["failed"] == "1" and table["TOTAL"]["failed"] == "1"
    assert not (out / "damaged.png").exists() and partials(out) == []
    captured = capsys.readouterr()  # a status line names the failure; the summary counts it
    assert "failed damaged.png: " in captured.err
    assert "3 file(s): 2 done (2 now, 0 already), 1 failed" in captured.out


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "no such folder"),
        ("same", "must differ from the input folder"),
        ("input_inside_output", "lies inside the output folder"),
        ("output_is_file", "is a file"),
        ("input_is_file", "not a folder"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(tmp_path, capsys, layout, message):
    root = tmp_path / "in"
    root.mkdir()
    write_clip(root / "a.mp4", frames=3)
    source, out = {
        "missing": (tmp_path / "nope", tmp_path / "out"),
        "same": (root, root),
        "input_inside_output": (root, tmp_path),
        "output_is_file": (root, root / "a.mp4"),
        "input_is_file": (root / "a.mp4", tmp_path / "out"),
    }[layout]
    assert run_cli("batch", source, "-o", out, *FAST) == 2
    err = capsys.readouterr().err
    assert err.startswith("faceanon: error: ") and message in err and err.count("\n") == 1


def test_an_output_folder_inside_the_input_is_skipped_by_the_walk(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    write_clip(root / "a.mp4", frames=4)
    out = root / "anonymized"
    for _ in range(2):
        assert run_cli("batch", root, "-o", out, "--workers", "1", *FAST) == 0
        assert set(manifest_rows(out)) == {"a.mp4"}


def test_batch_photos_are_searched_as_faceanon_image_searches_them():
    """The batch worker builds one pipeline for video (its detector reports less sure faces
    for tracks, and has no second look); its photos get the photo search."""
    from pipeline.detect import KEEP_MARGIN
    from stream.batch.jobs import image_pipeline, video_pipeline
    from stream.build import RunSettings

    settings = RunSettings(mode="blur", identity=False)
    photo = image_pipeline(settings).detector.config
    assert photo.second_look and photo.keep_margin == 0.0
    video = video_pipeline(settings).detector.config
    assert not video.second_look and video.keep_margin == KEEP_MARGIN


def test_stills_with_no_face_are_kept_unless_covering_is_asked(tmp_path):
    """A CCTV archive's stills are mostly empty scenes: batch writes a still with no face found
    out unchanged by default; --no-face cover covers it whole, as `faceanon image` does."""
    root = tmp_path / "in"
    source = still(root / "empty.png")
    kept, covered = tmp_path / "kept", tmp_path / "covered"
    assert run_cli("batch", root, "-o", kept, *FAST) == 0
    assert run_cli("batch", root, "-o", covered, "--no-face", "cover", *FAST) == 0
    original = np.asarray(Image.open(source)).astype(int)
    assert np.array_equal(np.asarray(Image.open(kept / "empty.png")), original)
    assert np.abs(np.asarray(Image.open(covered / "empty.png")) - original).mean() > 10
