"""The native libraries' own log lines stay off the terminal unless the user asks (`--verbose`).

FFmpeg (twice: inside PyAV and inside OpenCV), OpenCV and Qt each print to stderr on their own;
faceanon reports what went wrong itself, in one line. Every lever here is a documented setting
of its library, applied before the library first needs it:

    configure_library_logs(verbose=False)   # before the first capture, decode or window

- FFmpeg inside OpenCV reads `OPENCV_FFMPEG_LOGLEVEL` once, when its first capture opens
  (verbose leaves it unset: FFmpeg then prints its errors to stderr itself);
- OpenCV's own warnings follow `cv2.utils.logging.setLogLevel`;
- PyAV drops FFmpeg's lines unless a level is set; verbose restores FFmpeg's own printing;
- Qt looks for fonts in `QT_QPA_FONTDIR` (which the opencv-python wheel points at a folder it
  does not ship, hence "QFontDatabase: Cannot find font directory"); a system font folder is
  chosen instead, and `QT_LOGGING_RULES` mutes Qt's remaining warnings unless verbose.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import av.logging
import cv2

AV_LOG_QUIET = -8  # FFmpeg's level, as OPENCV_FFMPEG_LOGLEVEL takes it
QT_QUIET_RULES = "*.debug=false;*.info=false;*.warning=false"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
PREFERRED_FONT = "DejaVuSans.ttf"
FONT_ROOTS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/usr/X11R6/lib/X11/fonts",
)

_configured: bool | None = None  # the verbosity applied, None until configured


def configure_library_logs(verbose: bool = False) -> None:
    """Quiet (or, verbose, show) the libraries' own logs; safe to call again."""
    global _configured
    if verbose:  # FFmpeg's own printing (errors, on stderr); OpenCV's callback uses stdout
        if os.environ.get("OPENCV_FFMPEG_LOGLEVEL") == str(AV_LOG_QUIET):
            del os.environ["OPENCV_FFMPEG_LOGLEVEL"]
    else:
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = str(AV_LOG_QUIET)
    levels = cv2.utils.logging
    levels.setLogLevel(levels.LOG_LEVEL_WARNING if verbose else levels.LOG_LEVEL_SILENT)
    if verbose:
        av.logging.restore_default_callback()
    else:
        av.logging.set_level(None)
    _configure_qt(verbose)
    _configured = verbose


def ensure_library_logs() -> None:
    """Apply the quiet default if nobody configured the logs yet (library use, not the CLI)."""
    if _configured is None:
        configure_library_logs(verbose=False)


def library_logs_shown() -> bool:
    """Whether the libraries' own logs were asked for."""
    return bool(_configured)


def _configure_qt(verbose: bool) -> None:
    folder = os.environ.get("QT_QPA_FONTDIR")
    if not (folder and _has_fonts(Path(folder))):
        found = find_font_dir()
        if found is not None:
            os.environ["QT_QPA_FONTDIR"] = str(found)
    if verbose:
        if os.environ.get("QT_LOGGING_RULES") == QT_QUIET_RULES:
            del os.environ["QT_LOGGING_RULES"]
    else:
        os.environ.setdefault("QT_LOGGING_RULES", QT_QUIET_RULES)


def find_font_dir(roots: Iterable[str | Path] = FONT_ROOTS, depth: int = 3) -> Path | None:
    """A folder holding font files directly (Qt does not search below it), the one with DejaVu
    Sans first; None when the system has no fonts in the usual places."""
    candidates: list[Path] = []
    for root in roots:
        top = Path(root).expanduser()
        if not top.is_dir():
            continue
        for folder, subfolders, files in os.walk(top):
            here = Path(folder)
            subfolders.sort()
            if len(here.relative_to(top).parts) >= depth:
                subfolders.clear()
            if PREFERRED_FONT in files:
                return here
            if any(name.lower().endswith(FONT_SUFFIXES) for name in files):
                candidates.append(here)
    return candidates[0] if candidates else None


def _has_fonts(folder: Path) -> bool:
    return folder.is_dir() and any(
        entry.name.lower().endswith(FONT_SUFFIXES) for entry in folder.iterdir()
    )
