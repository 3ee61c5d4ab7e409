"""Video file source and sink: timing, audio, metadata, odd sizes, rotation, damage, safety."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clips import leftovers, shapes_frame, write_clip

from pipeline.errors import InputError
from stream.frame import Frame
from stream.video_io import VideoFileSink, VideoFileSource, VideoInfo, probe_video


def copy_through(source: Path, output: Path, audio: bool = True) -> list[Frame]:
    """Decode `source` and encode every frame unchanged into `output`; return the frames."""
    frames = []
    with (
        VideoFileSource(source) as reader,
        VideoFileSink(output, reader.info, audio_from=source if audio else None) as sink,
    ):
        for frame in reader:
            frames.append(frame)
            sink.write(frame)
    return frames


def decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def frame_times(path: Path) -> list[float]:
    return [float(f.pts * f.time_base) for f in decoded(path)]


def seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / av.time_base


def audio_packets(path: Path) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as container:
        return [(float(p.pts * p.time_base), bytes(p)) for p in container.demux(audio=0) if p.size]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_frames_timing_and_rate_survive(clip, tmp_path, suffix):
    source = clip(f"in{suffix}", frames=30, rate=25)
    output = tmp_path / f"out{suffix}"
    frames = copy_through(source, output)
    assert len(frames) == 30
    assert len(decoded(output)) == 30
    times_in, times_out = frame_times(source), frame_times(output)
    shift = times_out[0] - times_in[0]
    assert np.allclose(np.array(times_out) - shift, times_in, atol=0.002)
    with av.open(str(output)) as container:
        assert container.streams.video[0].average_rate == 25
        duration = container.duration / av.time_base
    assert abs(duration - 30 / 25) <= 1 / 25
    again = decoded(output)[5].to_ndarray(format="bgr24").astype(int)
    assert np.abs(again - frames[5].image).mean() < 2.5  # one more generation, no colour shift


def test_source_describes_the_clip(clip):
    info = probe_video(clip("in.mp4", size=(160, 120), frames=20, rate=20, audio="aac"))
    assert (info.width, info.height, info.frames, info.rotation) == (160, 120, 20, 0)
    assert info.average_rate == 20 and info.codec == "h264" and info.audio_streams == 1
    assert info.duration == pytest.approx(1.0, abs=0.06)


def test_frames_carry_their_timestamps(clip):
    with VideoFileSource(clip("in.mp4", frames=5, rate=25)) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [round(f.time, 3) for f in frames] == [0.0, 0.04, 0.08, 0.12, 0.16]
    assert all(f.image.dtype == np.uint8 and f.image.shape == (120, 160, 3) for f in frames)


def test_audio_packets_are_copied_unchanged(clip, tmp_path):
    source = clip("in.mp4", audio="aac")
    output = tmp_path / "out.mp4"
    copy_through(source, output)
    before, after = audio_packets(source), audio_packets(output)
    assert len(before) > 40
    assert after == before


def test_audio_keeps_relative_timing_in_matroska(clip, tmp_path):
    source = clip("in.mp4", audio="aac")
    output = tmp_path / "out.mkv"
    copy_through(source, output)
    before, after = audio_packets(source), audio_packets(output)
    assert [data for _, data in after] == [data for _, data in before]
    # Matroska starts at zero: everything moves by the same amount, so sync is kept
    audio_shift = after[0][0] - before[0][0]
    video_shift = frame_times(output)[0] - frame_times(source)[0]
    assert np.allclose([t for t, _ in after], [t + audio_shift for t, _ in before], atol=0.002)
    assert audio_shift == pytest.approx(video_shift, abs=0.002)


def test_audio_the_container_cannot_hold_is_reencoded_to_aac(clip, tmp_path):
    source = clip("in.mov", audio="pcm_mulaw")
    output = tmp_path / "out.mp4"
    copy_through(source, output)
    with av.open(str(output)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac"
        seconds = sum(f.samples for f in container.decode(stream)) / stream.codec_context.rate
    assert seconds == pytest.approx(1.2, abs=0.15)


SECRETS = {
    "title": "secret title",
    "location": "+48.8577+002.2950/",
    "creation_time": "2021-05-06T07:08:09Z",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 12",
    "com.apple.quicktime.location.ISO6709": "+48.8577+002.2950+035.000/",
}
STREAM_SECRETS = {
    "title": "stream title",
    "creation_time": "2021-05-06T07:08:09Z",
    "handler_name": "Core Media Video",
}


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_metadata_is_stripped(clip, tmp_path, suffix):
    source = clip(
        "in.mov",
        audio="aac",
        tags=SECRETS,
        stream_tags=STREAM_SECRETS,
        options={"movflags": "use_metadata_tags"},
    )
    with av.open(str(source)) as container:  # the input really carries them
        assert {"title", "location", "com.apple.quicktime.model"} <= set(container.metadata)
        assert container.streams.video[0].metadata.get("name") == "stream title"
    output = tmp_path / f"out{suffix}"
    copy_through(source, output)
    with av.open(str(output)) as container:
        tags = dict(container.metadata)
        for stream in container.streams:
            tags.update({f"{stream.type}:{k}": v for k, v in stream.metadata.items()})
    for key, value in tags.items():
        assert "title" not in key and "location" not in key and "creation" not in key, tags
        assert "apple" not in key.lower() and value not in ("stream title", "Apple"), tags
    data = output.read_bytes()
    for marker in (b"secret", b"stream title", b"48.8577", b"iPhone", b"Apple", b"Core Media"):
        assert marker not in data
    assert b"x264 - core" not in data  # the encoder's banner with its settings
    assert b"Lavf6" not in data  # the muxer's version tag


def test_odd_size_keeps_every_pixel(tmp_path):
    tb = Fraction(1, 25)
    info = VideoInfo(641, 359, Fraction(25), tb, None, None, 0, "h264", 0)
    images = [shapes_frame(i, 641, 359) for i in range(6)]
    output = tmp_path / "odd.mp4"
    with VideoFileSink(output, info) as sink:
        for i, image in enumerate(images):
            sink.write(Frame(image, i, i, tb))
    frames = decoded(output)
    assert len(frames) == 6
    assert (frames[0].width, frames[0].height) == (642, 360)  # one replicated column and row
    for frame, image in zip(frames, images, strict=True):
        pixels = frame.to_ndarray(format="bgr24").astype(int)
        assert np.abs(pixels[:359, :641] - image).mean() < 4  # nothing cropped or rescaled
        assert np.abs(pixels[:359, 641] - pixels[:359, 640]).mean() < 6
        assert np.abs(pixels[359, :641] - pixels[358, :641]).mean() < 6


def blue_corner(image: np.ndarray) -> str:
    """Which corner holds the clip's blue marker."""
    h, w = image.shape[:2]
    corners = {
        "top-left": image[: h // 10, : w // 10],
        "top-right": image[: h // 10, -w // 10 :],
        "bottom-left": image[-h // 10 :, : w // 10],
        "bottom-right": image[-h // 10 :, -w // 10 :],
    }
    return max(corners, key=lambda k: corners[k][..., 0].mean() - corners[k][..., 2].mean())


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("matrix.mp4", {"rotation": -90}),  # a phone held upright: turn clockwise to view
        ("tag.mkv", {"stream_tags": {"rotate": "90"}}),  # the legacy tag, clockwise degrees
    ],
)
def test_rotated_input_comes_out_upright(clip, tmp_path, name, options):
    source = clip(name, size=(160, 96), frames=6, **options)
    assert blue_corner(shapes_frame(0, 160, 96)) == "top-left"
    output = tmp_path / "out.mp4"
    frames = copy_through(source, output)
    with VideoFileSource(source) as reader:
        assert (reader.info.width, reader.info.height, reader.info.rotation) == (96, 160, 90)
    assert frames[0].image.shape == (160, 96, 3)
    assert blue_corner(frames[0].image) == "top-right"  # a quarter turn clockwise
    written = decoded(output)
    assert (written[0].width, written[0].height) == (96, 160)
    assert written[0].rotation == 0  # no display matrix left for players to apply twice
    assert blue_corner(written[0].to_ndarray(format="bgr24")) == "top-right"


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_keeps_each_timestamp(clip, tmp_path, suffix):
    stamps = [0, 40, 50, 120, 300, 310, 320, 700, 740, 1000]  # milliseconds
    source = clip(f"vfr{suffix}", pts=stamps, time_base=Fraction(1, 1000))
    output = tmp_path / f"out{suffix}"
    frames = copy_through(source, output)
    assert [round(f.time * 1000) for f in frames] == stamps
    times = frame_times(output)
    assert np.allclose(np.array(times) - times[0], np.array(stamps) / 1000, atol=0.001)
    assert seconds(output) == pytest.approx(seconds(source), abs=0.05)


def test_frames_without_timestamps_get_nominal_ones(tmp_path):
    tb = Fraction(1, 1000)
    info = VideoInfo(64, 48, Fraction(20), tb, None, None, 0, "h264", 0)
    output = tmp_path / "out.mkv"
    with VideoFileSink(output, info) as sink:
        for i in range(4):
            sink.write(Frame(shapes_frame(i, 64, 48), i))
    assert frame_times(output) == pytest.approx([0.0, 0.05, 0.1, 0.15], abs=0.001)


@pytest.mark.parametrize(
    ("name", "options"), [("fast.mp4", {"movflags": "faststart"}), ("cut.mkv", {})]
)
def test_truncated_file_yields_what_decodes_and_warns(clip, tmp_path, caplog, name, options):
    whole = clip(name, frames=50, size=(160, 120), options=options)
    cut = tmp_path / f"cut-{name}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    with caplog.at_level(logging.WARNING), VideoFileSource(cut) as reader:
        count = sum(1 for _ in reader)
    assert 5 < count < 50
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1 and str(count) in messages[0] and "truncated" in messages[0]


def test_file_truncated_before_its_index_is_refused(clip, tmp_path):
    whole = clip("plain.mp4", frames=20)  # index (moov) written at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated"):
        VideoFileSource(cut)


def _still_png(path: Path) -> None:
    import cv2

    cv2.imwrite(str(path), shapes_frame(0, 32, 32))


def _audio_only(path: Path) -> None:
    from clips import _write_tone

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        stream.codec_context.layout = "stereo"
        _write_tone(container, stream, 0.3)


BAD_INPUTS = {
    "missing.mp4": (None, "no such file"),
    "empty.mp4": (lambda p: p.write_bytes(b""), "empty"),
    "notes.mp4": (lambda p: p.write_bytes(b"not a video at all\n" * 50), "not a readable video"),
    "still.png": (_still_png, "still image"),
    "sound.m4a": (_audio_only, "no video stream"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_raises_one_clear_input_error(tmp_path, name):
    make, fragment = BAD_INPUTS[name]
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(InputError, match=fragment) as caught:
        VideoFileSource(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_no_file(clip, tmp_path, interruption):
    source = clip("in.mp4", audio="aac")
    output = tmp_path / "out" / "result.mp4"
    output.parent.mkdir()
    with (
        pytest.raises(interruption),
        VideoFileSource(source) as reader,
        VideoFileSink(output, reader.info, audio_from=source) as sink,
    ):
        for frame in reader:
            sink.write(frame)
            if frame.index == 10:
                assert leftovers(output.parent)  # it is being written beside the target
                raise interruption()
    assert not output.exists()
    assert list(output.parent.iterdir()) == []


def test_completed_write_appears_only_at_the_end(clip, tmp_path):
    source = clip("in.mp4", frames=8)
    output = tmp_path / "out.mp4"
    with VideoFileSource(source) as reader, VideoFileSink(output, reader.info) as sink:
        for frame in reader:
            sink.write(frame)
            assert not output.exists()
    assert output.exists() and leftovers(tmp_path) == []


def test_sink_refuses_unknown_container(tmp_path):
    info = VideoInfo(64, 48, Fraction(25), Fraction(1, 25), None, None, 0, "h264", 0)
    with pytest.raises(InputError, match="choose"):
        VideoFileSink(tmp_path / "out.avi", info)


def test_source_is_readable_again_by_name(tmp_path):
    """Writing never touches the input: the source file is byte-identical afterwards."""
    source = write_clip(tmp_path / "in.mp4", frames=6)
    before = source.read_bytes()
    copy_through(source, tmp_path / "out.mp4")
    assert source.read_bytes() == before
