"""`faceanon video`: end to end on synthetic clips, the report, and every kind of bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import numpy as np
import pytest
from clips import leftovers, write_clip

from stream.cli import main

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def run_cli(*args: object) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def images(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def audio_bytes(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def needs_weights(*cards: str) -> None:
    missing = [c for c in cards if not (WEIGHTS / f"{c}.json").is_file()]
    if missing:
        names = ", ".join(f"{c}.json" for c in missing)
        pytest.skip(f"needs trained weights that are not in weights/ yet: {names}")


def test_faceless_clip_passes_through_with_report(clip, tmp_path, capsys):
    source = clip("in.mp4", frames=20, audio="aac")
    output, report = tmp_path / "out" / "anon.mp4", tmp_path / "report.json"
    code = run_cli("video", source, "-o", output, "--mode", "blur", "--report", report)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"→ {output}" in captured.out and "20 frames" in captured.out
    before, after = images(source), images(output)
    assert len(after) == 20
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(after, before, strict=True)) < 2.5
    assert audio_bytes(output) == audio_bytes(source)
    document = json.loads(report.read_text())
    assert document["command"] == "video" and document["settings"]["mode"] == "blur"
    assert document["totals"]["frames"] == 20 and document["totals"]["faces_found"] == 0
    record = document["files"][0]
    assert record["input"] == str(source) and record["output"] == str(output)
    assert record["source"]["frames"] == 20 and record["source"]["audio_streams"] == 1
    assert record["frames"] == 20 and record["fps"] > 0
    assert "detect" in record["timings_ms"]
    assert leftovers(output.parent) == []


def test_quiet_run_prints_nothing_and_detects_every_nth_frame(clip, tmp_path, capsys):
    source = clip("in.mkv", frames=12)
    output, report = tmp_path / "out.mov", tmp_path / "report.json"
    code = run_cli(
        "video", source, "-o", output, "--mode", "blur", "--detect-every", "4", "--quiet",
        "--report", report,
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and captured.out == "" and captured.err == ""
    assert len(images(output)) == 12
    document = json.loads(report.read_text())
    assert document["settings"]["detect_every"] == 4
    assert document["settings"]["min_face_fraction"] == 1 / 15  # the stream default
    assert document["totals"]["frames"] == 12


@pytest.mark.parametrize("mode", ["blur", "swap"])
def test_faces_in_a_clip_are_anonymized(tmp_path, request, mode):
    needs_weights("latent_swapper", *(["gender_classifier"] if mode == "swap" else []))
    frame, _ = request.getfixturevalue("face_frame")  # a synthetic face from the latent model
    source = tmp_path / "face.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        stream.width, stream.height = frame.shape[1], frame.shape[0]
        for i in range(10):
            shifted = np.roll(frame, 2 * i, axis=1)
            picture = av.VideoFrame.from_ndarray(shifted, format="bgr24")
            picture.pts = i
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    output, report = tmp_path / "anon.mp4", tmp_path / "report.json"
    code = run_cli("video", source, "-o", output, "--mode", mode, "--report", report, "--quiet")
    assert code == 0
    totals = json.loads(report.read_text())["totals"]
    assert totals["frames"] == 10 and totals["faces_found"] >= 9
    assert totals["swapped" if mode == "swap" else "blurred"] >= 9
    before, after = images(source), images(output)
    assert len(after) == len(before) == 10
    inner = (slice(150, 370), slice(260, 460))  # inside the face however far it moved
    pairs = zip(after, before, strict=True)
    assert min(np.abs(a[inner].astype(int) - b[inner]).mean() for a, b in pairs) > 2.0


def test_by_default_a_face_walking_in_is_covered_from_its_first_frame(tmp_path, request):
    """The default detects every 4th frame and reads ahead: the face enters on frame 2 and is
    first seen by the detector on frame 4, yet frames 2 and 3 are covered too (and frame 1,
    where the face the next detection finds is not in yet: covering fails closed)."""
    frame, _ = request.getfixturevalue("face_frame")
    empty = np.full_like(frame, 200)
    clip = [empty, empty, *(np.roll(frame, 2 * i, axis=1) for i in range(8))]
    source = tmp_path / "walk-in.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        stream.width, stream.height = frame.shape[1], frame.shape[0]
        for i, image in enumerate(clip):
            picture = av.VideoFrame.from_ndarray(image, format="bgr24")
            picture.pts = i
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    output, report = tmp_path / "anon.mp4", tmp_path / "report.json"
    assert run_cli("video", source, "-o", output, "--mode", "blur", "--report", report) == 0
    assert json.loads(report.read_text())["settings"]["detect_every"] == 4
    before, after = images(source), images(output)
    inner = (slice(150, 370), slice(260, 460))
    pairs = zip(after, before, strict=True)
    change = [np.abs(a[inner].astype(int) - b[inner]).mean() for a, b in pairs]
    assert change[0] < 2.5  # a detection frame without a face passes through
    assert min(change[2:]) > 2.0, change  # every frame with the face is covered


def _text(path: Path) -> None:
    path.write_text("not a video\n" * 100)


def _png(path: Path) -> None:
    import cv2

    cv2.imwrite(str(path), np.zeros((16, 16, 3), np.uint8))


def _link_to_input(tmp_path: Path) -> Path:
    link = tmp_path / "link.mp4"
    link.symlink_to(tmp_path / "in.mp4")
    return link


def _folder_is_a_file(tmp_path: Path) -> Path:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    return tmp_path / "blocker" / "out.mp4"


ERRORS = {
    "missing input": (lambda t: t / "nope.mp4", lambda t: t / "out.mp4", "no such file"),
    "not a video": (lambda t: t / "notes.mp4", lambda t: t / "out.mp4", "not a readable video"),
    "still image": (lambda t: t / "photo.png", lambda t: t / "out.mp4", "faceanon image"),
    "output is the input": (lambda t: t / "in.mp4", lambda t: t / "in.mp4", "refusing"),
    "output is the input by another name": (lambda t: t / "in.mp4", _link_to_input, "refusing"),
    "unknown output suffix": (lambda t: t / "in.mp4", lambda t: t / "out.avi", ".mp4"),
    "unwritable folder": (lambda t: t / "in.mp4", _folder_is_a_file, "cannot create"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, capsys, case):
    make_source, make_output, fragment = ERRORS[case]
    source = make_source(tmp_path)
    if source.name == "in.mp4":
        write_clip(source, frames=3)
    elif source.name == "notes.mp4":
        _text(source)
    elif source.name == "photo.png":
        _png(source)
    output = make_output(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code = run_cli("video", source, "-o", output, "--mode", "blur")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("faceanon: error:"), err
    assert fragment.lower() in lines[0].lower(), err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing changed


def test_report_may_not_overwrite_the_input(clip, tmp_path, capsys):
    source = clip("in.mp4", frames=3)
    code = run_cli("video", source, "-o", tmp_path / "out.mp4", "--report", source, "--quiet")
    assert code == 2
    assert "would overwrite" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


def test_a_crowd_clip_finishes_and_no_face_is_left_raw(synthetic_faces, tmp_path):
    """Many faces walking, some leaving the frame: the run ends within a bound, writes every
    frame, reports its frame times, and shows no face as it was."""
    from clips import write_crowd_clip

    source = tmp_path / "crowd.mp4"
    visible = write_crowd_clip(source, [f.image for f in synthetic_faces])
    output, report = tmp_path / "anon.mp4", tmp_path / "report.json"
    started = time.perf_counter()
    code = run_cli("video", source, "-o", output, "--no-identity", "--quiet", "--report", report)
    assert code == 0
    assert time.perf_counter() - started < 300  # the unbounded tracker never finished
    before, after = images(source), images(output)
    assert len(after) == len(before) == len(visible)
    raw = []
    for t, shown in enumerate(visible):
        for left, top, side in shown:
            # the face's inner part (eyes to mouth), away from its square's edge
            inner = (
                slice(top + side // 3, top + 3 * side // 4),
                slice(left + side // 4, left + 3 * side // 4),
            )
            change = np.abs(after[t][inner].astype(int) - before[t][inner]).mean()
            if change < 2.5:  # a raw face differs by the codec's noise, about 1
                raw.append((t, left, top, round(change, 2)))
    assert raw == [], f"faces left raw (frame, left, top, mean change): {raw[:10]}"
    totals = json.loads(report.read_text())["totals"]
    assert totals["frames"] == len(before)
    assert totals["frame_ms"]["median"] is not None and totals["frame_ms"]["max"] is not None
    assert "frames_over_limit" in totals
