"""Stage 5: the `Swapper` interface every gender-swap backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from .errors import InputError
from .types import AlignedCrop, Gender


class Swapper(Protocol):
    """Turns aligned faces into faces of the opposite gender, batched over a frame's faces.

    `genders` are the faces' current genders (the swap moves each to the opposite one);
    `strength` is how far to move (the latent model's α); None takes the backend's calibrated
    default, which is the swap's own `default_strength`. The returned crops
    share their inputs' alignment and carry the landmarks of the new face.
    """

    name: str
    default_strength: float

    def swap(
        self,
        crops: Sequence[AlignedCrop],
        genders: Sequence[Gender],
        strength: float | None = None,
        seeds: Sequence[int | None] | None = None,
    ) -> list[AlignedCrop]:
        """`seeds`: one per face for whatever a backend draws at random (None: fresh), so a
        tracked face is drawn the same way in every frame."""
        ...


SWAPPERS = ("latent", "pix2pixhd")


def load_swapper(
    name: str,
    weights_dir: Path | None = None,
    device: str = "auto",
    identity_pull: float | None = None,
    identity_mode: str | None = None,
    k: int | None = None,
    epsilon: float | None = None,
    paint_limit: float | None = None,
) -> Swapper:
    """The named backend with its weights (from `weights_dir`, or the shipped ones);
    `identity_pull`, `identity_mode`, `k` and `epsilon` override the latent model's calibrated
    identity replacement, `paint_limit` caps painted make-up and stubble (no other backend has
    either)."""
    if name == "latent":
        from .latent.swapper import LatentSwapper

        return LatentSwapper.load(
            weights_dir, device, identity_pull, identity_mode, k, epsilon, paint_limit=paint_limit
        )
    if identity_pull is not None:
        raise InputError("--identity-pull applies to the latent swapper only")
    if paint_limit is not None:
        raise InputError("--paint-limit applies to the latent swapper only")
    if (identity_mode, k, epsilon) != (None, None, None):
        raise InputError("--identity-mode, --k and --epsilon apply to the latent swapper only")
    if name == "pix2pixhd":
        from .pix2pixhd import Pix2PixHDSwapper

        return Pix2PixHDSwapper.load(weights_dir, device)
    raise InputError(f"unknown swapper {name!r} (choose from {', '.join(SWAPPERS)})")
