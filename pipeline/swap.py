"""Stage 5: the `Swapper` interface every gender-swap backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
DETAILS = ("own", "model")  # the latent swapper's fine detail: the face's own, or the model's
DEFAULT_DETAIL = "model"  # chosen by measurement (README, "Latent face model")


@dataclass(frozen=True)
class LatentChoices:
    """What a user chose of the latent swapper's own settings; None keeps the calibrated value
    (no limit, for `paint_limit`). See `LatentSwapper.load` and `identity.choose_identity`."""

    identity_pull: float | None = None
    identity_mode: str | None = None
    k: int | None = None
    epsilon: float | None = None
    paint_limit: float | None = None
    detail: str | None = None  # "own" or "model" (`latent.swapper`); None: DEFAULT_DETAIL


def load_swapper(
    name: str,
    weights_dir: Path | None = None,
    device: str = "auto",
    choices: LatentChoices | None = None,
) -> Swapper:
    """The named backend with its weights (from `weights_dir`, or the shipped ones); `choices`
    are the latent swapper's (no other backend has them)."""
    choices = choices or LatentChoices()
    if name == "latent":
        from .latent.swapper import LatentSwapper

        return LatentSwapper.load(weights_dir, device, choices)
    if choices.identity_pull is not None:
        raise InputError("--identity-pull applies to the latent swapper only")
    if (choices.identity_mode, choices.k, choices.epsilon) != (None, None, None):
        raise InputError("--identity-mode, --k and --epsilon apply to the latent swapper only")
    if choices.paint_limit is not None:
        raise InputError("--paint-limit applies to the latent swapper only")
    if choices.detail is not None:
        raise InputError("--detail applies to the latent swapper only")
    if name == "pix2pixhd":
        from .pix2pixhd import Pix2PixHDSwapper

        return Pix2PixHDSwapper.load(weights_dir, device)
    raise InputError(f"unknown swapper {name!r} (choose from {', '.join(SWAPPERS)})")
