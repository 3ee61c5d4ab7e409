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
    config = TrainConfig(epochs=2, batch_size=16, device="cpu")
    card = train_classifier(
        tiny_data, tmp_path / "w", config, cache_dir=tmp_path / "cache", quiet=True
    )
    assert set(card["accuracy_percent"]) == {"gender/val", "celeba held-out"}
    written = json.loads((tmp_path / "w" / "gender_classifier.json").read_text())
    assert written["sha256"] and written["training"]["seed"] == config.seed
    assert "unlabelled CelebA" in written["training"]["data"]
    teacher = written["training"]["teacher_model"]
    assert teacher["photos"] == 6  # every unlabelled photo got the teacher's soft label
    assert 0.0 < teacher["female_share"] < 1.0
    assert set(teacher["celeba_held_out_percent"]) == {"overall", "male", "female"}
    classifier = GenderClassifier.load(tmp_path / "w", device="cpu")
    probs = classifier.probabilities([np.zeros((256, 256, 3), np.uint8)])
    assert probs.shape == (1, 2) and np.isclose(probs.sum(), 1.0)


def test_damaged_weights_are_refused(tiny_data, tmp_path):
    folder = tmp_path / "w"
    config = TrainConfig(epochs=1, batch_size=16, teacher=False, device="cpu")
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


def run_cli(*args: object) -> int:
    from stream.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def test_cli_trains_at_the_input_size_asked_for(tiny_data, tmp_path, capsys):
    out = tmp_path / "w"
    code = run_cli(
        "train", "classifier", "--data", tiny_data, "--out", out, "--epochs", "1",
        "--input", "48x56", "--device", "cpu", "--cache-dir", tmp_path / "cache", "--quiet",
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "celeba held-out:" in capsys.readouterr().out
    classifier = GenderClassifier.load(out, device="cpu")
    assert (classifier.spec.width, classifier.spec.height) == (48, 56)
    assert classifier.probabilities([np.zeros((192, 192, 3), np.uint8)]).shape == (1, 2)


@pytest.mark.parametrize("size", ["64", "64x", "10x72", "axb"])
def test_cli_refuses_a_bad_input_size(tiny_data, tmp_path, capsys, size):
    code = run_cli("train", "classifier", "--data", tiny_data, "--out", tmp_path, "--input", size)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("faceanon: error: --input")
    assert not list(tmp_path.iterdir())
