"""Live frames through OpenCV: a camera, a network stream, or a video file played like one.

    with CameraSource("0") as camera:
        for frame in camera:
            show(frame.image)  # frame.captured: time.monotonic() when it was grabbed

Capture runs in its own thread. With `latest_only`, only the newest frame waits for the
consumer: an older one not yet taken is dropped and counted in `dropped`, so latency stays
bounded when processing is slower than the camera.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import InputError

from .frame import Frame
from .liblogs import ensure_library_logs, library_logs_shown
from .video_io import probe_video

URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
QUEUE_SIZE = 8  # frames waiting for the consumer when every frame is kept
READ_RETRIES = 50  # failed reads in a row (≈ 2.5 s) before a live source counts as ended
OPEN_TIMEOUT_MS = 10_000
MILLISECOND = Fraction(1, 1000)  # the time base of file timestamps


class CameraSource:
    """Frames from `spec`: a camera index ("0"), a device path (/dev/videoN), a stream URL
    (rtsp://, http(s)://) or a video file. Every frame is stamped `captured`. A file's frames
    also carry their own timestamps (`pts` in milliseconds) and, when `realtime`, are released
    at those times, as a camera would deliver them; without `realtime` a file is read as fast
    as it is consumed and no frame is dropped."""

    def __init__(self, spec: str, realtime: bool = True, latest_only: bool = True) -> None:
        self.spec = str(spec)
        self.kind = _kind(self.spec)
        self.realtime = realtime
        self.latest_only = latest_only and (realtime or self.kind != "file")
        self.dropped = 0
        self._capture = _open(self.spec, self.kind)
        rate = self._capture.get(cv2.CAP_PROP_FPS)
        self._fps = float(rate) if 1.0 <= rate <= 1000.0 else 0.0
        ok, image = self._capture.read()
        if not ok or image is None:
            self._capture.release()
            raise InputError(f"{self._name()}: opened, but it delivered no frame")
        self._first: np.ndarray | None = image
        self._first_pts = self._position()
        self._waiting: deque[Frame] = deque()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._ended = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def fps(self) -> float:
        """The frame rate the source states, or 0.0 when it states none."""
        return self._fps

    def __enter__(self) -> CameraSource:
        self._start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._capture.release()

    def __iter__(self) -> Iterator[Frame]:
        self._start()
        while True:
            with self._changed:
                while not self._waiting and not self._ended and not self._stop.is_set():
                    self._changed.wait(0.1)
                if not self._waiting:
                    break
                frame = self._waiting.popleft()
                self._changed.notify_all()
            yield frame
        if self._error is not None:
            raise self._error

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="faceanon-capture", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._capture_loop()
        except BaseException as error:  # re-raised in the consuming thread
            self._error = error
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def _capture_loop(self) -> None:
        paced = self.realtime and self.kind == "file"
        started = time.monotonic()
        origin: float | None = None
        index = 0
        failures = 0
        while not self._stop.is_set():
            ok, image, pts = self._read()
            if not ok:
                failures += 1
                if self.kind == "file" or failures > READ_RETRIES:
                    return
                self._stop.wait(0.05)
                continue
            failures = 0
            if paced:
                at = pts / 1000 if pts is not None else index / (self._fps or 30.0)
                origin = at if origin is None else origin
                if self._stop.wait(max(0.0, started + at - origin - time.monotonic())):
                    return
            clock = MILLISECOND if pts is not None else None
            self._offer(Frame(image, index, pts, clock, captured=time.monotonic()))
            index += 1

    def _read(self) -> tuple[bool, np.ndarray | None, int | None]:
        """The next image and, for a file, its timestamp in milliseconds."""
        if self._first is not None:
            image, self._first = self._first, None
            return True, image, self._first_pts
        ok, image = self._capture.read()
        return ok and image is not None, image, self._position()

    def _position(self) -> int | None:
        if self.kind != "file":
            return None
        return round(self._capture.get(cv2.CAP_PROP_POS_MSEC))

    def _offer(self, frame: Frame) -> None:
        with self._changed:
            if self.latest_only:
                if self._waiting:
                    self._waiting.clear()
                    self.dropped += 1
            else:
                while len(self._waiting) >= QUEUE_SIZE and not self._stop.is_set():
                    self._changed.wait(0.1)
            self._waiting.append(frame)
            self._changed.notify_all()

    def _name(self) -> str:
        return f"camera {self.spec}" if self.kind == "index" else self.spec


def _kind(spec: str) -> str:
    if spec.isdigit():
        return "index"
    if spec.lower().startswith(URL_SCHEMES):
        return "url"
    if spec.startswith("/dev/"):
        return "device"
    return "file"


def check_source(spec: str) -> None:
    """The checks that need no device: a device path that does not exist; a file that is
    missing, empty or not a video (probed quietly with PyAV). Raises InputError."""
    kind = _kind(spec)
    if kind == "device" and not Path(spec).exists():
        raise InputError(f"{spec}: no such camera device")
    if kind == "file":
        if not Path(spec).exists():
            raise InputError(f"{spec}: no such file (a camera is a number, or /dev/videoN)")
        probe_video(spec)


def _open(spec: str, kind: str) -> cv2.VideoCapture:
    """Open a capture or raise InputError with the likely reason."""
    check_source(spec)
    ensure_library_logs()
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
    with _quiet_opencv():
        if kind == "index":
            capture = cv2.VideoCapture(int(spec))
        elif kind == "device":
            capture = cv2.VideoCapture(spec)
        else:
            capture = cv2.VideoCapture(spec, cv2.CAP_FFMPEG, timeouts)
    if capture.isOpened():
        return capture
    capture.release()
    if kind == "index":
        raise InputError(f"cannot open camera {spec}: is it connected and free? (or --source FILE)")
    if kind == "device":
        raise InputError(f"cannot open {spec}: not a capture device, or in use or not permitted")
    if kind == "url":
        raise InputError(f"cannot open the stream {spec}: unreachable, refused or not a video")
    raise InputError(f"{spec}: not a video file OpenCV can read")


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV prints warnings of its own when a capture fails to open; the error we raise says
    it in one line (with --verbose they are shown)."""
    if library_logs_shown():
        yield
        return
    logging_api = cv2.utils.logging
    level = logging_api.getLogLevel()
    logging_api.setLogLevel(logging_api.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_api.setLogLevel(level)
