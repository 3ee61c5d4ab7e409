"""Long recordings split into parts: every frame lands in exactly one part, and the joined
output has the source's frames, timestamps and audio."""

from __future__ import annotations

import json

import av
import pytest
from batchtools import FAST, frame_times, manifest_rows, partials, run_cli
from clips import write_clip

from stream.batch.segments import SpanFrames, plan_spans
from stream.video_io import VideoFileSource


def audio_packets(path):
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


@pytest.mark.parametrize("variable_rate", [False, True])
def test_spans_partition_the_frames(tmp_path, variable_rate):
    pts = [0, 40, 90, 100, 180, 260, 270, 330, 400, 480, 560, 600, 690, 720]
    pts = sorted({p + 800 * k for p in pts for k in range(4)}) if variable_rate else None
    source = write_clip(tmp_path / "in.mkv", frames=100, rate=25, pts=pts)
    with VideoFileSource(source) as frames:
        everything = [(f.pts, f.image) for f in frames]
    spans = plan_spans(source, 1.0)
    assert len(spans) >= 3 and spans[0][0] is None and spans[-1][1] is None
    joined = []
    for start, end in spans:
        part = [(f.pts, f.image) for f in SpanFrames(source, (start, end))]
        assert part, "an empty span"
        assert all((start is None or p >= start) and (end is None or p < end) for p, _ in part)
        joined.extend(part)
    assert [p for p, _ in joined] == [p for p, _ in everything]
    assert all((a == b).all() for (_, a), (_, b) in zip(joined, everything, strict=True))
    assert plan_spans(source, 60.0) == [(None, None)]  # short enough: one part


def test_a_segmented_batch_matches_the_source(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    write_clip(root / "long.mp4", frames=100, rate=25, audio="aac")
    write_clip(root / "cam.avi", frames=60, rate=20)
    args = ("batch", root, "-o", out, "--segment-seconds", "1", "--workers", "2", "--reports")
    assert run_cli(*args, *FAST) == 0
    rows = manifest_rows(out)
    assert (rows["long.mp4"]["parts"], rows["cam.avi"]["parts"]) == (4, 3)
    assert rows["long.mp4"]["frames"] == 100 and rows["cam.avi"]["frames"] == 60
    for source, output in (
        (root / "long.mp4", out / "long.mp4"),
        (root / "cam.avi", out / "cam.mp4"),
    ):
        want, got = frame_times(source), frame_times(output)
        assert len(got) == len(want)
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-3
    assert audio_packets(out / "long.mp4") == audio_packets(root / "long.mp4")
    report = json.loads((out / "long.mp4.report.json").read_text())
    assert report["parts"] == 4 and report["totals"]["frames"] == 100
    assert not (out / ".faceanon-parts").exists() and partials(out) == []
