import json

import numpy as np
import pytest

from pipeline.classify import GenderClassifier
from pipeline.errors import WeightsError
from pipeline.training.classifier import TrainConfig, learning_rate, train_classifier
from pipeline.training.dataset import celeba_split, list_sources


def test_sources_and_splits(tiny_data):
    sources = list_sources(tiny_data)
    splits = {s.split for s in sources}
    assert splits <= {"train", "val", "test", "unlabelled"}
    assert sum(s.split == "unlabelled" for s in sources) == 6
    assert celeba_split("000001.jpg") == celeba_split("000001.jpg")


def test_learning_rate_schedule():
    assert learning_rate(0.1, 0.0) == pytest.approx(0.01)
    assert learning_rate(0.1, 0.1) == pytest.approx(0.1)
    assert learning_rate(0.1, 1.0) == pytest.approx(0.0, abs=1e-9)


def test_train_writes_weights_that_load(tiny_data, tmp_path):
    config = TrainConfig(
        epochs=2, batch_size=16, pseudo_after=1, pseudo_confidence=0.0, device="cpu"
    )
    card = train_classifier(
        tiny_data, tmp_path / "w", config, cache_dir=tmp_path / "cache", quiet=True
    )
    assert set(card["accuracy_percent"]) == {"gender/val", "celeba held-out"}
    written = json.loads((tmp_path / "w" / "gender_classifier.json").read_text())
    assert written["sha256"] and written["training"]["seed"] == config.seed
    assert "unlabelled CelebA" in written["training"]["data"]
    classifier = GenderClassifier.load(tmp_path / "w", device="cpu")
    probs = classifier.probabilities([np.zeros((256, 256, 3), np.uint8)])
    assert probs.shape == (1, 2) and np.isclose(probs.sum(), 1.0)


def test_damaged_weights_are_refused(tiny_data, tmp_path):
    folder = tmp_path / "w"
    config = TrainConfig(epochs=1, batch_size=16, pseudo_after=5, device="cpu")
    train_classifier(tiny_data, folder, config, cache_dir=tmp_path / "cache", quiet=True)
    weights = folder / "gender_classifier.pt"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(WeightsError, match="checksum"):
        GenderClassifier.load(folder, device="cpu")
    card = json.loads((folder / "gender_classifier.json").read_text())
    card["version"] = 99
    (folder / "gender_classifier.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="v99"):
        GenderClassifier.load(folder, device="cpu")
