"""Carry a source file's audio into an output container while its video is being re-encoded.

Packets are copied as they are (bytes, timestamps, side data), interleaved with the video by
time. Only a stream whose codec the output container cannot hold is decoded and re-encoded to
AAC. Stream titles and other tags are dropped; the language tag is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Route:
    source: av.audio.stream.AudioStream
    target: av.audio.stream.AudioStream
    reencode: bool


class AudioPassthrough:
    """The audio streams of `source`, added to `output` at construction and written to it by
    `write_until(seconds)` as the video advances, then `finish()`."""

    def __init__(self, source: Path, output: av.container.OutputContainer) -> None:
        self._output = output
        self._input = av.open(str(source))
        supported = output.supported_codecs
        self._routes: dict[int, _Route] = {}
        for stream in self._input.streams.audio:
            reencode = stream.codec_context.name not in supported
            if reencode:
                layout = stream.codec_context.layout.name or "stereo"
                target = output.add_stream("aac", rate=stream.codec_context.sample_rate)
                target.codec_context.layout = layout
                log.info("audio stream %d: %s re-encoded to AAC", stream.index, stream.codec.name)
            else:
                target = output.add_stream_from_template(stream)
            target.metadata.clear()
            if stream.language:
                target.metadata["language"] = stream.language
            self._routes[stream.index] = _Route(stream, target, reencode)
        self._packets: Iterator[av.Packet] = (
            self._input.demux(*[r.source for r in self._routes.values()])
            if self._routes
            else iter(())
        )
        self._held: av.Packet | None = None
        self._failed = False

    def write_until(self, seconds: float | None) -> None:
        """Write every audio packet that starts at or before `seconds` (all if None)."""
        while not self._failed:
            packet = self._held or self._next()
            if packet is None:
                return
            at = _seconds(packet)
            if seconds is not None and at is not None and at > seconds:
                self._held = packet
                return
            self._held = None
            self._write(packet)

    def finish(self) -> None:
        """Write what is left and flush the re-encoders."""
        self.write_until(None)
        for route in self._routes.values():
            if route.reencode and not self._failed:
                self._guard(lambda route=route: self._output.mux(route.target.encode(None)))

    def close(self) -> None:
        self._input.close()

    def _next(self) -> av.Packet | None:
        while True:
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except av.error.FFmpegError as error:
                log.warning("audio: the source's audio is damaged; copied up to here (%s)", error)
                self._failed = True
                return None
            if packet.size or self._routes[packet.stream.index].reencode:
                return packet

    def _write(self, packet: av.Packet) -> None:
        route = self._routes[packet.stream.index]
        if route.reencode:

            def reencode() -> None:
                for frame in route.source.decode(packet if packet.size else None):
                    self._output.mux(route.target.encode(frame))

            self._guard(reencode)
        else:
            packet.stream = route.target
            self._guard(lambda: self._output.mux(packet))

    def _guard(self, step: Callable[[], None]) -> None:
        """Audio trouble never costs the video: warn once, stop copying audio."""
        try:
            step()
        except av.error.FFmpegError as error:
            log.warning("audio: stopped copying the source's audio (%s)", error)
            self._failed = True


def _seconds(packet: av.Packet) -> float | None:
    stamp = packet.dts if packet.dts is not None else packet.pts
    if stamp is None or packet.time_base is None:
        return None
    return float(stamp * packet.time_base)
