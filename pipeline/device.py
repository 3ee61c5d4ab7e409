"""Choice of compute device from `--device auto|cpu|cuda`, and torch's CPU threads.

torch is imported only where it can matter: on a machine without an NVIDIA driver, `auto`
settles on the CPU without it (importing torch costs 1-2 s of every command's start-up, and
the CPU path runs the classifier with ONNX Runtime: `classify_onnx`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def _check(name: str) -> None:
    if name not in DEVICES:
        raise InputError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")


def nvidia_driver_present() -> bool:
    """Whether this machine could have a CUDA GPU: an NVIDIA driver (Linux), WSL's GPU
    bridge, or the CUDA driver library (other systems). Cheap, and never imports torch."""
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists() or Path("/dev/dxg").exists()
    import ctypes.util

    return any(ctypes.util.find_library(name) for name in ("cuda", "nvcuda"))


def device_kind(name: str = "auto") -> str:
    """The kind of device `--device name` means, cuda or cpu; torch is asked only where a
    GPU may be."""
    _check(name)
    if name == "cpu" or (name == "auto" and not nvidia_driver_present()):
        return "cpu"
    return resolve_device(name).type


def resolve_device(name: str = "auto") -> torch.device:
    """auto picks CUDA when a GPU is usable, else the CPU; cuda without a GPU is an error."""
    import torch

    _check(name)
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but no CUDA GPU is available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch's CPU work on `count` threads inside the block, as before after it; nothing
    to do where torch is not loaded (the CPU path without it).

    For face work that shares the cores with detector and codec threads: torch's own pool
    then only fights them (video, 640×360: the classifier's share 1.4 ms a frame on two
    threads, 0.7 ms on one; under load the two-thread calls stalled for hundreds of ms)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
