"""The classifier on ONNX Runtime: same verdicts as torch, a cached graph, and fallbacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import classify_onnx
from pipeline.classify import GenderClassifier, load_classifier
from pipeline.classify_onnx import OnnxGenderClassifier, OnnxUnavailable, graph_name
from pipeline.recognition import load_describer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("onnx")
    OnnxGenderClassifier.load(folder=folder)  # exports once
    return folder


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for size in (256, 192, 128)]


def test_onnx_gives_the_torch_probabilities(graph_folder, crops):
    onnx = OnnxGenderClassifier.load(folder=graph_folder)
    torch_model = GenderClassifier.load(device="cpu")
    for batch in (crops[:1], crops):  # one face takes torch's channels-last path
        assert np.allclose(onnx.probabilities(batch), torch_model.probabilities(batch), atol=1e-5)
    assert onnx.probabilities([]).shape == (0, 2)


def test_the_graph_is_exported_once_and_then_read(graph_folder, monkeypatch):
    card = OnnxGenderClassifier.load(folder=graph_folder).card
    assert (graph_folder / graph_name(card["sha256"])).is_file()
    assert not list(graph_folder.glob(".*part"))  # written under a temporary name

    def no_export(*_):
        raise AssertionError("exported again")

    monkeypatch.setattr(classify_onnx, "export_graph", no_export)
    OnnxGenderClassifier.load(folder=graph_folder)


def test_a_cache_that_cannot_be_written_still_serves_the_run(tmp_path, crops):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    onnx = OnnxGenderClassifier.load(folder=blocked / "onnx")
    assert onnx.probabilities(crops).shape == (3, 2)


def test_a_damaged_graph_is_made_again(tmp_path, crops):
    card = GenderClassifier.load(device="cpu").card
    cached = tmp_path / graph_name(card["sha256"])
    cached.write_bytes(b"not a graph")
    onnx = OnnxGenderClassifier.load(folder=tmp_path)
    assert onnx.probabilities(crops).shape == (3, 2)
    assert cached.stat().st_size > 1_000_000


def test_without_onnx_runtime_the_classifier_runs_on_torch(monkeypatch, crops):
    def unavailable(*_, **__):
        raise OnnxUnavailable("no runtime")

    monkeypatch.setattr(OnnxGenderClassifier, "load", unavailable)
    classifier = load_classifier(device="cpu")
    assert isinstance(classifier, GenderClassifier)
    assert classifier.probabilities(crops).shape == (3, 2)


def test_a_cpu_run_never_imports_torch_once_the_graphs_are_cached(tmp_path, portrait):
    """The start-up saving: `faceanon image` on the CPU with cached graphs (the classifier's
    and dlib's recognition network's) loads no torch."""
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    OnnxGenderClassifier.load(folder=tmp_path / "faceanon" / "onnx")
    load_describer(folder=tmp_path / "faceanon" / "onnx")
    code = (
        "import sys\n"
        "from stream.cli import main\n"
        "sys.argv = ['faceanon', 'image', sys.argv[1], '-o', sys.argv[2], '--quiet', "
        "'--device', 'cpu']\n"
        "try:\n    main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    out = tmp_path / "out.png"
    run = subprocess.run(
        [sys.executable, "-c", code, str(portrait), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert out.is_file()
