"""Weight files and their JSON cards.

Every weight file in `weights/` sits beside a card, `<name>.json`, that names the file, its
SHA-256, the format version the code expects, and how the weights were made and measured.
Loading checks the card first, so a stale or damaged file fails with one clear line.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .errors import WeightsError


def default_weights_dir() -> Path:
    """`$FACEANON_WEIGHTS` if set, else the weights shipped with the package."""
    override = os.environ.get("FACEANON_WEIGHTS")
    if override:
        return Path(override)
    import weights  # the package that holds the committed files

    return Path(weights.__file__).parent


def user_cache_dir() -> Path:
    """faceanon's folder in the user's cache (`$XDG_CACHE_HOME`, else ~/.cache): aligned
    training faces, the classifier's ONNX graph."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "faceanon"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(
    name: str, kind: str, version: int, weights_dir: Path | None = None
) -> tuple[dict[str, Any], Path]:
    """Load and check `<name>.json`; return the card and the path of its weight file."""
    folder = Path(weights_dir) if weights_dir else default_weights_dir()
    card_path = folder / f"{name}.json"
    if not card_path.is_file():
        raise WeightsError(f"no {kind} weights in {folder} ({card_path.name} is missing)")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as error:
        raise WeightsError(f"{card_path} is not a readable weight card: {error}") from error
    if card.get("kind") != kind or card.get("version") != version:
        raise WeightsError(
            f"{card_path} holds {card.get('kind')!r} v{card.get('version')}, "
            f"but this faceanon needs {kind!r} v{version}"
        )
    path = folder / str(card.get("file", ""))
    if not path.is_file():
        raise WeightsError(f"{card_path.name} names {path.name}, which is missing from {folder}")
    if card.get("sha256") and sha256(path) != card["sha256"]:
        raise WeightsError(
            f"{path} does not match the checksum in {card_path.name} (damaged or replaced)"
        )
    return card, path


def write_card(
    weights_dir: Path, name: str, kind: str, version: int, file: Path, **fields: Any
) -> Path:
    """Write `<name>.json` for a weight file already saved in `weights_dir`."""
    card = {
        "name": name,
        "kind": kind,
        "version": version,
        "file": file.name,
        "sha256": sha256(file),
    }
    card.update(fields)
    card_path = Path(weights_dir) / f"{name}.json"
    tmp = card_path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, card_path)
    return card_path
