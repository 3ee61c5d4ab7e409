"""Long recordings in parts: plan time spans, decode one span (seeking to the keyframe before
it and dropping earlier frames), and join the encoded parts by copying packets, with the
source's audio copied in. Parts keep the source's own timestamps, so the joined file has the
source's frames at the source's times."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import av

from pipeline.errors import ProcessingError

from ..atomic import atomic_output
from ..audio_copy import AudioPassthrough
from ..frame import Frame
from ..orientation import upright_for
from ..video_io import OUTPUT_FORMATS

log = logging.getLogger(__name__)

Span = tuple[int | None, int | None]  # start and end pts, None: open-ended
_SEEK_BACK_SECONDS = (0.0, 2.0, 10.0, 60.0, None)  # None: decode from the very start


def plan_spans(path: Path, seconds: float) -> list[Span]:
    """Cut points every `seconds` of the video stream, in its time base; one open span when
    the file is no longer than that, or when its frames carry no timestamps to cut at."""
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        time_base = stream.time_base
        if stream.duration and time_base:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            return [(None, None)]
        first = next((p for p in container.demux(stream) if p.size), None)
        if time_base is None or first is None or first.pts is None or duration <= seconds:
            return [(None, None)]
        start = stream.start_time if stream.start_time is not None else first.pts
    count = math.ceil(duration / seconds)
    cuts = [start + round(k * seconds / time_base) for k in range(1, count)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


class SpanFrames:
    """The decoded frames of one span of a video file, BGR and upright, with their own
    timestamps: iterate once. Frames without a timestamp get their predecessor's plus one."""

    def __init__(self, path: Path, span: Span) -> None:
        self.path = path
        self.start, self.end = span
        self.error: str | None = None

    def __iter__(self) -> Iterator[Frame]:
        for back in _SEEK_BACK_SECONDS:
            with av.open(str(self.path)) as container:
                stream = _video_stream(container, self.path)
                stream.thread_type = "AUTO"
                if self.start is not None and back is not None:
                    target = self.start - round(back / stream.time_base)
                    container.seek(target, stream=stream, backward=True, any_frame=False)
                decoded = self._decode(container, stream)
                first = next(decoded, None)
                if back is not None and self.start is not None and _after(first, self.start):
                    continue  # the seek landed past the span's start: go further back
                if first is not None:
                    yield from self._frames(first, decoded, stream)
                return

    def _frames(self, first, decoded, stream) -> Iterator[Frame]:
        upright = upright_for(first, stream)
        step = _step(stream)
        last: int | None = None
        count = 0
        for av_frame in _chain(first, decoded):
            pts = av_frame.pts
            if pts is None:
                pts = 0 if last is None else last + step
            last = pts
            if self.start is not None and pts < self.start:
                continue
            if self.end is not None and pts >= self.end:
                return
            image = av_frame.to_ndarray(format="bgr24", src_color_range=av_frame.color_range)
            shown = av_frame.duration or None
            yield Frame(upright.apply(image), count, pts, stream.time_base, duration=shown)
            count += 1
        if self.error:
            log.warning("%s is damaged (%s): kept the frames that decoded", self.path, self.error)

    def _decode(self, container, stream) -> Iterator[av.VideoFrame]:
        try:
            for packet in container.demux(stream):
                yield from stream.decode(packet)
        except av.error.FFmpegError as error:
            self.error = str(error)


def join_parts(parts: list[Path], output: Path, audio_from: Path) -> int:
    """Copy the video packets of `parts`, in order, into `output` (written atomically) with
    the audio of `audio_from`; return the number of video packets. The parts must come from
    the same encoder settings (they do: one `VideoFileSink` configuration)."""
    fmt = OUTPUT_FORMATS.get(output.suffix.lower())
    if fmt is None or not parts:
        raise ProcessingError(f"cannot join {len(parts)} part(s) into {output.name}")
    with atomic_output(output) as temporary, av.open(str(parts[0])) as head:
        template = head.streams.video[0]
        extradata = template.codec_context.extradata
        container = av.open(str(temporary), "w", format=fmt)
        try:
            container.flags |= av.container.Flags.bitexact.value
            video = container.add_stream_from_template(template)
            video.time_base = template.time_base
            video.metadata.clear()
            audio = AudioPassthrough(audio_from, container)
            try:
                count = _copy_video(parts, container, video, audio, extradata)
                audio.finish()
            finally:
                audio.close()
        finally:
            container.close()
    return count


def _copy_video(parts, container, video, audio, extradata) -> int:
    last_dts: int | None = None
    count = 0
    for part in parts:
        with av.open(str(part)) as source:
            stream = source.streams.video[0]
            if stream.codec_context.extradata != extradata:
                raise ProcessingError(f"{part.name} was encoded differently; cannot join it")
            for packet in source.demux(stream):
                if not packet.size:
                    continue
                packet.stream = video
                if packet.time_base != video.time_base:
                    packet.pts = _rebase(packet.pts, packet.time_base, video.time_base)
                    packet.dts = _rebase(packet.dts, packet.time_base, video.time_base)
                    packet.duration = _rebase(packet.duration, packet.time_base, video.time_base)
                    packet.time_base = video.time_base
                if packet.dts is None:  # Matroska keeps no decoding times: any rising ones do
                    packet.dts = packet.pts if last_dts is None else last_dts + 1
                if last_dts is not None and packet.dts is not None and packet.dts <= last_dts:
                    packet.dts = last_dts + 1  # parts meet where B-frame delays overlap
                    if packet.pts is not None and packet.pts < packet.dts:
                        raise ProcessingError(f"{part.name}: timestamps overlap the part before")
                last_dts = packet.dts if packet.dts is not None else last_dts
                stamp = packet.dts if packet.dts is not None else packet.pts
                if stamp is not None:
                    audio.write_until(float(stamp * video.time_base))
                container.mux(packet)
                count += 1
    return count


def _after(frame: av.VideoFrame | None, start: int) -> bool:
    return frame is None or (frame.pts is not None and frame.pts > start)


def _chain(first, rest):
    yield first
    yield from rest


def _rebase(value, old, new):
    return None if value is None else round(value * old / new)


def _step(stream) -> int:
    rate = stream.average_rate or stream.guessed_rate or 30
    return max(1, round(1 / (rate * stream.time_base)))


def _video_stream(container, path: Path):
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise ProcessingError(f"{path}: has no video stream")
