"""Video files in and out with PyAV: exact timestamps, upright pixels, audio kept, tags dropped.

with VideoFileSource("in.mov") as frames:
    with VideoFileSink("out.mp4", frames.info, audio_from="in.mov") as sink:
        for frame in frames:
            sink.write(frame.with_image(process(frame.image)))
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation

from pipeline.errors import InputError

from .atomic import atomic_output, check_input_file
from .audio_copy import AudioPassthrough
from .frame import Frame
from .orientation import Upright, upright_for

log = logging.getLogger(__name__)

OUTPUT_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}
ENCODER = "libx264"
ENCODER_OPTIONS = {"crf": "20", "preset": "veryfast"}
FALLBACK_RATE = Fraction(30)
BANNER_FILTER = "filter_units=remove_types=6"  # drop SEI units: x264's version and settings
# BGR → yuv420p with exact rounding and a proper chroma filter (swscale's default is biased by
# about two levels); costs under a millisecond per 640×360 frame.
_TO_YUV = (
    Interpolation.BICUBIC
    | Interpolation.ACCURATE_RND
    | Interpolation.FULL_CHR_H_INT
    | Interpolation.FULL_CHR_H_INP
)


@dataclass(frozen=True)
class VideoInfo:
    """What a video source is. `width`/`height`: the upright frame size (after `rotation`, the
    clockwise turn applied to the stored pixels); `time_base`: the unit of frame timestamps;
    `frames`: the count the container states (None if it states none)."""

    width: int
    height: int
    average_rate: Fraction | None
    time_base: Fraction
    frames: int | None
    duration: float | None
    rotation: int
    codec: str
    audio_streams: int

    @property
    def estimated_frames(self) -> int | None:
        """The stated frame count, else one estimated from duration and rate (for progress)."""
        if self.frames:
            return self.frames
        if self.duration and self.average_rate:
            return round(self.duration * self.average_rate)
        return None


class VideoFileSource:
    """Decoded frames of a video file: BGR, upright, each with its own timestamp.

    Reads any container and codec FFmpeg reads; the file is opened (and its first frame
    decoded) at construction, so a missing, empty, non-video or undecodable file raises
    `InputError` at once. Rotation (display matrix or legacy `rotate` tag) is applied to the
    pixels. Timestamps are the stream's own, so variable frame rate survives; a frame without
    one gets its predecessor's plus one nominal frame. A truncated or damaged file yields the
    frames that decode, then stops and logs a warning with the count: never a traceback.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.error: str | None = None  # why decoding stopped early, if it did
        self._container = _open_input(self.path)
        try:
            self._stream = _video_stream(self._container, self.path)
            self._stream.thread_type = "AUTO"
            self._decoded = self._decode()
            first = next(self._decoded, None)
            if first is None:
                reason = f" ({self.error})" if self.error else ""
                raise InputError(f"{self.path}: no video frame could be decoded{reason}")
        except BaseException:
            self.close()
            raise
        self._first: av.VideoFrame | None = first
        self._upright: Upright = upright_for(first, self._stream)
        self.info = self._describe(first)

    def __enter__(self) -> VideoFileSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._first is None:
            raise RuntimeError("a VideoFileSource can be iterated once")
        decoded, self._first = chain([self._first], self._decoded), None
        time_base = self.info.time_base
        step = _nominal_step(self.info)
        last: int | None = None
        count = 0
        for av_frame in decoded:
            pts = av_frame.pts
            if pts is None:
                pts = 0 if last is None else last + step
            last = pts
            image = av_frame.to_ndarray(format="bgr24", src_color_range=av_frame.color_range)
            shown = av_frame.duration or None
            yield Frame(self._upright.apply(image), count, pts, time_base, duration=shown)
            count += 1
        self._report_end(count, last)

    def _report_end(self, count: int, last: int | None) -> None:
        """Warn when decoding stopped on an error or well before the announced end."""
        info = self.info
        if self.error:
            log.warning(
                "%s is truncated or damaged (%s): kept the %d frames that decoded",
                self.path,
                self.error,
                count,
            )
        elif info.frames and count < info.frames:
            log.warning(
                "%s ended early (truncated?): %d of the %d frames its header announces decoded",
                self.path,
                count,
                info.frames,
            )
        elif not info.frames and info.duration and last is not None:
            reached = float(last * info.time_base) + 2 / float(info.average_rate or FALLBACK_RATE)
            if reached < info.duration:
                log.warning(
                    "%s ended early (truncated?): %d frames decoded, up to %.2f s of %.2f s",
                    self.path,
                    count,
                    float(last * info.time_base),
                    info.duration,
                )

    def _decode(self) -> Iterator[av.VideoFrame]:
        try:
            for packet in self._container.demux(self._stream):
                yield from self._stream.decode(packet)
        except av.error.FFmpegError as error:
            self.error = _reason(error)

    def _describe(self, first: av.VideoFrame) -> VideoInfo:
        stream, container = self._stream, self._container
        width, height = first.width, first.height
        if self._upright.swaps_sides:
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or None
        if stream.duration and stream.time_base:
            duration: float | None = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        return VideoInfo(
            width=width,
            height=height,
            average_rate=Fraction(rate) if rate else None,
            time_base=stream.time_base or (1 / Fraction(rate) if rate else Fraction(1, 1000)),
            frames=stream.frames or None,
            duration=duration,
            rotation=self._upright.degrees,
            codec=stream.codec_context.name,
            audio_streams=len(container.streams.audio),
        )


def probe_video(path: Path | str) -> VideoInfo:
    """Open a video just far enough to describe it (and to refuse it with one clear line)."""
    with VideoFileSource(path) as source:
        return source.info


class VideoFileSink:
    """Write frames as H.264 (libx264, yuv420p, BT.709) into .mp4, .mkv or .mov.

    Every frame is encoded with its own timestamp and lasts until the next one (the last keeps
    its `Frame.duration`, else one frame at the average rate), so the frame count, duration
    and variable frame rate of the source are kept. The audio of
    `audio_from` is copied packet for packet (see `audio_copy`). Nothing of the source's tags
    is written: no title, location, dates, device or encoder tags (the muxer runs in bitexact
    mode and x264's version banner is removed from the bitstream).

    yuv420p needs even sides. An odd width or height is encoded one pixel larger, the extra
    column/row repeating the edge: every pixel of the frame is kept at its place, unscaled
    (scaling would resample all of them; H.264 cannot crop a single pixel in 4:2:0).

    The file is written under a hidden temporary name beside `path` and renamed when the block
    ends normally; an exception or Ctrl-C inside the block leaves neither file behind.
    """

    def __init__(
        self,
        path: Path | str,
        info: VideoInfo,
        audio_from: Path | str | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.format = OUTPUT_FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise InputError(f"cannot write {self.path.name}: choose {', '.join(OUTPUT_FORMATS)}")
        self.info = info
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.options = {**ENCODER_OPTIONS, **(options or {})}
        self.frames = 0
        self._size = (info.width + info.width % 2, info.height + info.height % 2)
        self._time_base = Fraction(info.time_base)
        self._step = _nominal_step(info)
        self._pending: av.VideoFrame | None = None
        self._last_pts: int | None = None
        self._warned_size = False
        self._held: av.Packet | None = None
        self._span = _Span()
        self._durations: dict[int, int] = {}
        self._stack = ExitStack()

    def __enter__(self) -> VideoFileSink:
        try:
            temporary = self._stack.enter_context(atomic_output(self.path))
            self._container = av.open(str(temporary), "w", format=self.format)
            self._stack.callback(self._container.close)
            self._container.flags |= av.container.Flags.bitexact.value
            self._video = self._add_video_stream()
            self._audio = self._add_audio()
            self._banner = av.bitstream.BitStreamFilterContext(BANNER_FILTER, "h264")
        except BaseException as error:
            self._stack.__exit__(type(error), error, error.__traceback__)
            if isinstance(error, (OSError, av.error.FFmpegError)):
                raise InputError(f"cannot write {self.path}: {_reason(error)}") from error
            raise
        return self

    def __exit__(self, kind, error, trace) -> None:
        failure = (kind, error, trace)
        try:
            if kind is None:
                self._finish()
        except BaseException as late:
            failure = (type(late), late, late.__traceback__)
            raise
        finally:
            self._stack.__exit__(*failure)

    def write(self, frame: Frame) -> None:
        """Encode one frame (held back until the next arrives, which fixes its duration)."""
        pts = self._timestamp(frame)
        picture = av.VideoFrame.from_ndarray(self._fit(frame.image), format="bgr24")
        picture = picture.reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range=1, interpolation=_TO_YUV
        )
        picture.pts = pts
        picture.time_base = self._time_base
        if self._pending is not None:
            self._pending.duration = pts - self._pending.pts
            self._encode(self._pending)
        picture.duration = self._rescale(frame.duration, frame.time_base) or self._step
        self._pending = picture
        self.frames += 1
        self._audio.write_until(float(pts * self._time_base))

    def _finish(self) -> None:
        if self._pending is not None:  # the last frame keeps its own duration
            self._encode(self._pending)
            self._pending = None
        self._encode(None)
        self._mux_video(None)
        self._audio.finish()

    def _add_video_stream(self) -> av.video.stream.VideoStream:
        rate = self.info.average_rate or FALLBACK_RATE
        stream = self._container.add_stream(ENCODER, rate=rate, options=self.options)
        stream.width, stream.height = self._size
        stream.pix_fmt = "yuv420p"
        stream.time_base = self._time_base
        context = stream.codec_context
        context.time_base = self._time_base
        context.color_range = 1  # limited ("tv") range, what players expect of H.264
        context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
        return stream

    def _add_audio(self) -> AudioPassthrough | _NoAudio:
        if self.audio_from is None:
            return _NoAudio()
        audio = AudioPassthrough(self.audio_from, self._container)
        self._stack.callback(audio.close)
        return audio

    def _timestamp(self, frame: Frame) -> int:
        pts = self._rescale(frame.pts, frame.time_base)
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._step
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # the encoder needs strictly increasing timestamps
        self._last_pts = pts
        return pts

    def _rescale(self, value: int | None, time_base: Fraction | None) -> int | None:
        """A time in the frame's unit, in the stream's."""
        if value is None or time_base is None or time_base == self._time_base:
            return value
        return round(value * time_base / self._time_base)

    def _fit(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        if (width, height) != (self.info.width, self.info.height):
            if not self._warned_size:
                log.warning(
                    "%s: frame of %dx%d resized to the stream's %dx%d",
                    self.path,
                    width,
                    height,
                    self.info.width,
                    self.info.height,
                )
                self._warned_size = True
            image = cv2.resize(image, (self.info.width, self.info.height))
        pad_x, pad_y = self._size[0] - self.info.width, self._size[1] - self.info.height
        if pad_x or pad_y:
            image = cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
        return image

    def _encode(self, picture: av.VideoFrame | None) -> None:
        if picture is not None:
            self._durations[picture.pts] = picture.duration  # x264 packets carry none
        for packet in self._video.encode(picture):
            self._mux_video(packet)

    def _mux_video(self, packet: av.Packet | None) -> None:
        """Mux encoded video without x264's banner (SEI units; x264 writes no others here).

        Each packet gets its frame's duration. MP4 and MOV take a track's length from decoding
        times, which with B-frames and a variable frame rate can end well before the last
        frame does; so the last packet is held back and stretched until the decoding-time span
        equals the presentation span."""
        for clean in self._banner.filter(packet):
            clean.stream = self._video
            clean.time_base = self._time_base
            if clean.pts is not None:
                clean.duration = self._durations.pop(clean.pts, 0)
                self._span.add(clean)
            if self._held is not None:
                self._container.mux(self._held)
            self._held = clean
        if packet is None and self._held is not None:
            if self.format != "matroska":  # Matroska keeps each block's own duration
                self._held.duration = self._span.last_duration(self._held)
            self._container.mux(self._held)
            self._held = None


class _Span:
    """First decoding and presentation times and the latest frame end of a packet stream."""

    def __init__(self) -> None:
        self.first_pts: int | None = None
        self.first_dts: int | None = None
        self.end = 0

    def add(self, packet: av.Packet) -> None:
        if self.first_pts is None:
            self.first_pts = packet.pts
            self.first_dts = packet.dts if packet.dts is not None else packet.pts
        self.first_pts = min(self.first_pts, packet.pts)
        self.end = max(self.end, packet.pts + packet.duration)

    def last_duration(self, packet: av.Packet) -> int:
        if self.first_pts is None or self.first_dts is None or packet.dts is None:
            return packet.duration
        decoded = packet.dts - self.first_dts
        return max(packet.duration, self.end - self.first_pts - decoded)


class _NoAudio:
    """Stands in for `AudioPassthrough` when no audio is to be copied."""

    def write_until(self, seconds: float | None) -> None:
        pass

    def finish(self) -> None:
        pass


def _open_input(path: Path) -> av.container.InputContainer:
    check_input_file(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"{path}: not a readable video (damaged, truncated, or not a video: {_reason(error)})"
        ) from error
    name = container.format.name
    if name == "image2" or name.endswith("_pipe"):
        container.close()
        raise InputError(f"{path}: is a still image; use `faceanon image` for photos")
    return container


def _video_stream(
    container: av.container.InputContainer, path: Path
) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise InputError(f"{path}: has no video stream")


def _nominal_step(info: VideoInfo) -> int:
    """One frame at the average rate, in time-base units (at least 1)."""
    rate = info.average_rate or FALLBACK_RATE
    return max(1, round(1 / (rate * info.time_base)))


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())
