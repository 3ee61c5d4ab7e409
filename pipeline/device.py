"""Choice of torch device from `--device auto|cpu|cuda`, and torch's CPU threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import InputError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """auto picks CUDA when a GPU is usable, else the CPU; cuda without a GPU is an error."""
    if name not in DEVICES:
        raise InputError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but no CUDA GPU is available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch's CPU work on `count` threads inside the block, as before after it.

    For face work that shares the cores with detector and codec threads: torch's own pool
    then only fights them (video, 640×360: the classifier's share 1.4 ms a frame on two
    threads, 0.7 ms on one; under load the two-thread calls stalled for hundreds of ms)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
