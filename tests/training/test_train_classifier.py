import json

import numpy as np
import pytest
import torch

from pipeline.classify import GenderClassifier
from pipeline.errors import WeightsError
from pipeline.training import classifier as training
from pipeline.training.classifier import TrainConfig, learning_rate, train_classifier
from pipeline.training.dataset import celeba_split, held_out_photos, list_sources
from pipeline.types import Gender


def test_sources_take_labels_from_the_attribute_table(tiny_data):
    sources = list_sources(tiny_data)
    photos = {s.path.name: s for s in sources if s.kind == "photo"}
    assert {s.split for s in sources} == {"train", "val", "test", "unlabelled"}
    # `Male` labels 14 photos (4 more than labels.csv); the last two have no label
    assert sorted(n for n, s in photos.items() if s.split == "unlabelled") == [
        "000014.jpg",
        "000015.jpg",
    ]
    assert photos["000012.jpg"].gender is Gender.MALE
    assert photos["000013.jpg"].gender is Gender.FEMALE
    # the labels.csv photos of the latent model's held-out half stay held out
    for name, source in photos.items():
        if int(name[:6]) < 10 and celeba_split(name) == "test":
            assert source.split == "test"


def test_held_out_photos_are_a_fixed_stratified_draw():
    labels = {f"{i:06d}.jpg": Gender.MALE if i % 3 == 0 else Gender.FEMALE for i in range(3000)}
    listed = set(list(labels)[:300])
    held = held_out_photos(labels, listed, fraction=0.2, seed=7)
    assert held == held_out_photos(dict(reversed(labels.items())), listed, fraction=0.2, seed=7)
    assert held != held_out_photos(labels, listed, fraction=0.2, seed=8)
    for gender, count in ((Gender.MALE, 1000), (Gender.FEMALE, 2000)):
        assert sum(labels[n] is gender for n in held) == round(0.2 * count)
    assert {n for n in listed if celeba_split(n) == "test"} <= held


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
    held_out = [s.path.name for s in list_sources(tiny_data) if s.split == "test"]
    assert written["held_out"]["files"] == sorted(held_out)
    assert "CelebA photos" in written["training"]["data"]
    assert not list((tmp_path / "cache").glob("*.ckpt"))  # a finished run leaves none
    classifier = GenderClassifier.load(tmp_path / "w", device="cpu")
    probs = classifier.probabilities([np.zeros((256, 256, 3), np.uint8)])
    assert probs.shape == (1, 2) and np.isclose(probs.sum(), 1.0)


def test_damaged_weights_are_refused(tiny_data, tmp_path):
    folder = tmp_path / "w"
    config = TrainConfig(epochs=1, batch_size=16, device="cpu")
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


def test_a_stopped_run_resumes_where_it_stopped(tiny_data, tmp_path, monkeypatch):
    """Stopped after its first epoch and run again, training ends with the weights an
    unstopped run writes."""
    config = TrainConfig(epochs=2, batch_size=16, device="cpu")
    whole = tmp_path / "whole"
    train_classifier(tiny_data, whole, config, cache_dir=tmp_path / "c1", quiet=True)

    saved = training.Checkpoint.save

    def save_then_stop(self, *args, **kwargs):
        saved(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.Checkpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(tiny_data, tmp_path / "stopped", config, tmp_path / "c2", quiet=True)
    assert len(list((tmp_path / "c2").glob("classifier-*.ckpt"))) == 1
    monkeypatch.setattr(training.Checkpoint, "save", saved)
    resumed = tmp_path / "resumed"
    train_classifier(tiny_data, resumed, config, cache_dir=tmp_path / "c2", quiet=True)
    a = torch.load(whole / "gender_classifier.pt", weights_only=True)
    b = torch.load(resumed / "gender_classifier.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


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


def test_cli_fine_tunes_from_given_weights(tiny_data, tmp_path, capsys):
    """`--init` starts from existing weights, read before the output replaces them, and the
    card records what it started from. At a learning rate of 1e-9 the convolutions stay what
    they were (a run from random weights would not come near them)."""
    out = tmp_path / "w"
    common = ["--data", tiny_data, "--device", "cpu", "--cache-dir", tmp_path / "cache", "--quiet"]
    assert run_cli("train", "classifier", "--out", out, "--epochs", "1", *common) == 0
    start = out / "gender_classifier.pt"
    before = torch.load(start, weights_only=True)
    digest = json.loads((out / "gender_classifier.json").read_text())["sha256"]
    code = run_cli(
        "train", "classifier", "--out", out, "--epochs", "1", "--init", start,
        "--learning-rate", "1e-9", "--seed", "5", *common,
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    training = json.loads((out / "gender_classifier.json").read_text())["training"]
    assert training["init"]["sha256"] == digest
    assert training["init"]["command"] == "faceanon train classifier --data DATA --epochs 1"
    assert training["command"].endswith("--learning-rate 1e-09 --init gender_classifier.pt")
    after = torch.load(start, weights_only=True)
    for name in ("conv1.weight", "layer4.1.conv2.weight", "fc.weight"):
        assert torch.allclose(after[name].float(), before[name].float(), atol=2e-3), name


def test_cli_refuses_weights_that_are_not_a_classifier(tiny_data, tmp_path, capsys):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not torch")
    code = run_cli(
        "train", "classifier", "--data", tiny_data, "--out", tmp_path / "w", "--init", bogus,
        "--device", "cpu", "--cache-dir", tmp_path / "cache", "--quiet",
    )  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("faceanon: error:")
