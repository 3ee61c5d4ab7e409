"""A tiny face data folder in the shared layout, made of the project's synthetic faces."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.types import Gender


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, latent_model) -> Path:
    from pipeline.latent.synth import sample_face

    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(11)
    for split, count in (("train", 12), ("val", 4)):
        for gender in Gender:
            folder = root / "gender" / split / gender.value
            folder.mkdir(parents=True)
            for i in range(count):
                face = sample_face(latent_model, rng, gender, size=256).image
                tight = cv2.resize(face[70:230, 64:192], (82, 104), interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(folder / f"{i:04d}.jpg"), tight)
    photos = root / "celeba" / "images"
    photos.mkdir(parents=True)
    rows = []
    for i in range(16):
        gender = (Gender.MALE, Gender.FEMALE)[i % 2]
        face = sample_face(latent_model, rng, gender, size=256).image
        photo = cv2.resize(face, (178, 178))
        photo = cv2.copyMakeBorder(photo, 20, 20, 0, 0, cv2.BORDER_REPLICATE)
        name = f"{i:06d}.jpg"
        cv2.imwrite(str(photos / name), photo)
        if i < 10:
            rows.append({"file": name, "gender": gender.value})
    with (root / "celeba" / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["file", "gender"])
        writer.writeheader()
        writer.writerows(rows)
    # CelebA's attribute table: `Male` for all but the last two photos (left unlabelled)
    with (root / "celeba" / "attributes.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["file", "Male", "Smiling"])
        writer.writeheader()
        writer.writerows(
            {"file": f"{i:06d}.jpg", "Male": int(i % 2 == 0), "Smiling": 0} for i in range(14)
        )
    return root
