"""How the latent swapper replaces the identity part of a face's code.

The identity part is every coefficient but the leading shape components (pose, mouth opening)
and the leading texture components (lighting, skin tone); see `LatentFaceModel.identity_index`.
Codes here are whitened: each coefficient divided by its component's standard deviation.

Modes:
- `pull`: move a share of the way towards the centre of the new class (the original swap).
- `k-same` (k-Same, as AnonFACES applies it to appearance-model codes): replace the identity by
  the average of the k faces of the new gender in the gallery nearest to the face moved along
  the gender direction. Every output is then the average of k gallery faces, so at least k
  gallery faces are equally consistent with it.
- `dp` (ε-differential privacy on the latent code, as PrivAI does): clip every identity
  coefficient to [-C, C] and add Laplace noise of scale b = Δ/ε, Δ = 2·C·d the L1 sensitivity
  over d coefficients. Neighbouring inputs are any two faces (any two identity codes): after
  clipping each coefficient differs by at most 2C, so their codes by at most 2·C·d in L1. The
  release is then divided by √(1 + 2b²), the sd of a whitened coefficient plus Laplace noise,
  so that it varies as much as real faces do, not 1 + 2b² times as much (at ε = 657 the noise
  alone had eight times the faces' variance: blotched, caricatured faces). Scaling a release is
  post-processing: the guarantee is the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import InputError

MODES = ("pull", "k-same", "dp")
DP_CLIP = 3.0  # C: each whitened identity coefficient clipped to [-3, 3] sd


@dataclass(frozen=True)
class IdentityMode:
    """The identity replacement a swap uses, with its one parameter."""

    kind: str = "pull"
    pull: float = 0.6  # pull: share of the way to the class centre
    k: int = 5  # k-same: faces averaged
    epsilon: float = 2000.0  # dp: the privacy budget per face
    clip: float = DP_CLIP  # dp: C, in sd units

    def __post_init__(self) -> None:
        if self.kind not in MODES:
            raise InputError(
                f"unknown identity mode {self.kind!r} (choose from {', '.join(MODES)})"
            )
        if self.kind == "k-same" and self.k < 1:
            raise InputError("--k must be at least 1")
        if self.kind == "dp" and not self.epsilon > 0:
            raise InputError("--epsilon must be greater than 0")
        if self.kind == "pull" and not 0 <= self.pull <= 1:
            raise InputError("--identity-pull must be between 0 and 1")

    @property
    def label(self) -> str:
        """What made an output, for reports and the readout."""
        if self.kind == "k-same":
            return f"k-Same k={self.k}"
        if self.kind == "dp":
            return f"ε-DP ε={self.epsilon:g}"
        return f"class-mean pull {self.pull:g}"

    def as_report(self) -> dict:
        entry: dict = {"identity_mode": self.kind, "label": self.label}
        if self.kind == "k-same":
            entry["k"] = self.k
        elif self.kind == "dp":
            entry.update(epsilon=self.epsilon, clip_sd=self.clip)
        else:
            entry["identity_pull"] = self.pull
        return entry


def choose_identity(
    default: IdentityMode,
    kind: str | None = None,
    pull: float | None = None,
    k: int | None = None,
    epsilon: float | None = None,
) -> IdentityMode:
    """The mode a user asked for: `kind`, or the one the single given parameter belongs to,
    else the calibrated `default`; parameters not given keep their calibrated values."""
    given = {"pull": pull, "k-same": k, "dp": epsilon}
    named = [mode for mode, value in given.items() if value is not None]
    if kind is None and len(named) > 1:
        raise InputError("give one of --identity-pull, --k and --epsilon (or --identity-mode)")
    kind = kind or (named[0] if named else default.kind)
    option = {"pull": "--identity-pull", "k-same": "--k", "dp": "--epsilon"}
    for mode in named:
        if mode != kind:
            raise InputError(f"{option[mode]} applies to --identity-mode {mode} only")
    updates = {"pull": pull, "k": k, "epsilon": epsilon}
    return replace(default, kind=kind, **{n: v for n, v in updates.items() if v is not None})


class KSameGallery:
    """The k-Same gallery split by class, with each code's squared norm worked out once."""

    def __init__(self, codes: np.ndarray, labels: np.ndarray) -> None:
        self.pools = {int(c): codes[labels == c] for c in np.unique(labels)}
        self.norms = {c: (pool**2).sum(axis=1) for c, pool in self.pools.items()}

    def means(self, queries: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
        """(n, d) the mean of the k codes of class `targets[i]` nearest each query."""
        out = np.empty_like(queries, dtype=np.float32)
        for target in np.unique(targets):
            rows = np.flatnonzero(targets == target)
            pool = self.pools.get(int(target), queries[:0])
            if len(pool) < k:
                raise InputError(
                    f"the k-Same gallery holds {len(pool)} faces of a class, fewer than k={k}"
                )
            squared = (
                (queries[rows] ** 2).sum(axis=1)[:, None]
                - 2 * queries[rows] @ pool.T
                + self.norms[int(target)][None, :]
            )
            nearest = np.argpartition(squared, k - 1, axis=1)[:, :k]
            out[rows] = pool[nearest].mean(axis=1)
        return out


def dp_scale(clip: float, dims: int, epsilon: float) -> float:
    """The Laplace scale Δ/ε, Δ = 2·C·d (L1 sensitivity of d coefficients clipped to ±C)."""
    return 2 * clip * dims / epsilon


def dp_release(
    codes: np.ndarray, clip: float, epsilon: float, rngs: list[np.random.Generator]
) -> np.ndarray:
    """(n, d) ε-DP releases of whitened identity codes: clipped, plus Laplace noise (one
    generator per face), scaled back to a whitened code's variance (post-processing)."""
    scale = dp_scale(clip, codes.shape[1], epsilon)
    clipped = np.clip(codes, -clip, clip)
    noise = np.stack([rng.laplace(0.0, scale, codes.shape[1]) for rng in rngs])
    return ((clipped + noise) / np.sqrt(1 + 2 * scale**2)).astype(np.float32)
