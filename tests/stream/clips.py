"""Synthetic video clips for the stream tests, written with PyAV: coloured shapes that move, so
every frame differs; optional audio, rotation, tags and irregular timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def shapes_frame(index: int, width: int, height: int) -> np.ndarray:
    """A gradient with a red square moving right and a green disc moving down; a blue marker
    fills the top-left corner (so turns and flips are visible)."""
    x = np.linspace(40, 200, width, dtype=np.float32)
    y = np.linspace(30, 120, height, dtype=np.float32)[:, None]
    image = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width))], -1)
    image = np.concatenate([image, np.full((height, width, 1), 90, np.float32)], -1)
    image = image.astype(np.uint8).copy()
    side = max(4, min(width, height) // 5)
    left = (index * 5) % max(1, width - side)
    cv2.rectangle(image, (left, height // 2), (left + side, height // 2 + side), (0, 0, 255), -1)
    centre = (width * 2 // 3, (index * 3) % height)
    cv2.circle(image, centre, side // 2, (0, 255, 0), -1)
    corner = max(2, min(width, height) // 8)
    image[:corner, :corner] = (255, 0, 0)
    return image


def write_clip(
    path: Path,
    *,
    size: tuple[int, int] = (160, 120),
    frames: int = 30,
    rate: int = 25,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    audio: str | None = None,
    rotation: int | None = None,
    tags: dict[str, str] | None = None,
    stream_tags: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a clip; `pts` (in `time_base`, default 1/1000) makes its frame rate variable;
    `rotation` adds a display matrix (degrees counterclockwise, as PyAV reads it back)."""
    width, height = size
    count = len(pts) if pts is not None else frames
    with av.open(str(path), "w", options=options or {}) as container:
        container.metadata.update(tags or {})
        video = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if pts is not None:
            video.codec_context.time_base = time_base or Fraction(1, 1000)
        video.metadata.update(stream_tags or {})
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = _add_audio(container, audio, stream_tags) if audio else None
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(shapes_frame(i, width, height), format="bgr24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], video.codec_context.time_base
            else:
                frame.pts, frame.time_base = i, Fraction(1, rate)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            seconds = (
                (pts[-1] * (time_base or Fraction(1, 1000)) + Fraction(1, 20))
                if pts
                else (Fraction(count, rate))
            )
            _write_tone(container, sound, float(seconds))
    return path


def _add_audio(container, codec: str, stream_tags: dict[str, str] | None):
    if codec == "aac":
        stream = container.add_stream("aac", rate=48000)
        stream.codec_context.layout = "stereo"
    else:
        stream = container.add_stream(codec, rate=8000)
        stream.codec_context.layout = "mono"
    stream.metadata.update(stream_tags or {})
    return stream


def _write_tone(container, stream, seconds: float) -> None:
    rate = stream.codec_context.sample_rate
    channels = stream.codec_context.layout.nb_channels
    total = round(seconds * rate)
    chunk = 1024
    for start in range(0, total, chunk):
        t = np.arange(start, min(total, start + chunk)) / rate
        wave = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        samples = np.repeat(wave[None], channels, 0).reshape(1, -1)  # packed s16
        frame = av.AudioFrame.from_ndarray(
            samples, format="s16", layout=stream.codec_context.layout.name
        )
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def leftovers(folder: Path) -> list[str]:
    """Partial files a writer left behind."""
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def write_crowd_clip(
    path: Path,
    faces: Sequence[np.ndarray],
    *,
    size: tuple[int, int] = (960, 540),
    frames: int = 36,
    people: int = 10,
    side: tuple[int, int] = (96, 140),
    rate: int = 25,
    seed: int = 3,
) -> list[list[tuple[int, int, int]]]:
    """A crowd of synthetic faces (square face images, scaled to `side` pixels) walking across
    a textured background at their own speeds, each in a lane of its own (rows of columns), a
    third of them out of the frame before the end. Returns, per frame, each fully visible
    face's (left, top, side)."""
    width, height = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    backdrop = np.stack(
        [
            90 + 40 * np.sin(xs / 37.0),
            110 + 30 * np.cos(ys / 23.0),
            100 + 25 * np.sin((xs + ys) / 51.0),
        ],
        axis=-1,
    ).astype(np.uint8)
    walkers = []
    for i in range(people):
        s = int(rng.integers(side[0], side[1] + 1))
        image = cv2.resize(faces[i % len(faces)], (s, s), interpolation=cv2.INTER_AREA)
        leaving = i % 3 == 0
        columns = (people + 1) // 2
        cell_w, cell_h = width / columns, height / 2
        x0 = (i // 2) * cell_w + float(rng.uniform(0, max(1.0, cell_w - s)))
        y0 = (i % 2) * cell_h + float(rng.uniform(0, max(1.0, cell_h - s - 2)))
        speed = (width / frames) * 1.2 if leaving else float(rng.uniform(-0.4, 0.4))
        walkers.append((image, s, x0, y0, speed, float(rng.uniform(-0.3, 0.3))))
    visible: list[list[tuple[int, int, int]]] = []
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for t in range(frames):
            frame = backdrop.copy()
            shown = []
            for image, s, x0, y0, vx, vy in walkers:
                left, top = round(x0 + vx * t), round(y0 + vy * t)
                l0, t0 = max(0, left), max(0, top)
                r0, b0 = min(width, left + s), min(height, top + s)
                if r0 <= l0 or b0 <= t0:
                    continue
                frame[t0:b0, l0:r0] = image[t0 - top : b0 - top, l0 - left : r0 - left]
                if (l0, t0, r0, b0) == (left, top, left + s, top + s):
                    shown.append((left, top, s))
            visible.append(shown)
            picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
            picture.pts, picture.time_base = t, Fraction(1, rate)
            container.mux(video.encode(picture))
        container.mux(video.encode(None))
    return visible
