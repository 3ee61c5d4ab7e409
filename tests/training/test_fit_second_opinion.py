"""`faceanon fit second-opinion`: the head's regression, the rule's choice, the written card."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.second_opinion import CARD_NAME, ConsultRule, DescriptorHead, with_second_opinion
from pipeline.training.second_opinion_fit import (
    GATES,
    WEIGHTS,
    choose_rule,
    fit_head,
    fit_logistic,
    fused,
)


def test_logistic_regression_finds_the_separating_direction():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 5))
    y = (x @ np.array([2.0, -1.0, 0, 0, 0]) + 0.5 + rng.normal(0, 0.3, 400) > 0).astype(float)
    w = fit_logistic(x, y, l2=1e-3)
    assert ((np.hstack([x, np.ones((400, 1))]) @ w > 0) == y).mean() > 0.95
    assert w[0] > 0 > w[1] and abs(w[2]) < 0.3 * w[0]
    np.testing.assert_array_equal(w, fit_logistic(x, y, l2=1e-3))  # no randomness


def test_head_standardises_its_input():
    rng = np.random.default_rng(4)
    descriptors = rng.normal(size=(300, 128)) * 0.05
    male = descriptors[:, 7] > 0
    head = fit_head(descriptors + 10.0, male)
    assert ((head.logits(descriptors + 10.0) > 0) == male).mean() > 0.95


def test_rule_asks_the_head_only_where_the_network_is_unsure():
    network = np.array([3.0, 0.2, -0.3, -3.0])
    head = np.array([5.0, -5.0, 5.0, 5.0])
    got = fused(network, head, ConsultRule(gate=1.0, weight=0.5))
    np.testing.assert_allclose(got, [3.0, -2.3, 2.2, -3.0])


def test_rule_is_the_most_accurate_then_the_cheapest():
    # the network is wrong on the two unsure faces, the head right on all: any weight ≥ 0.25
    # with a gate above 0.3 fixes both; the lowest such gate and weight win
    network = np.array([3.0, 0.2, -0.3, -3.0])
    head = np.array([4.0, -4.0, 4.0, -4.0])
    male = np.array([True, False, True, False])
    rule = choose_rule(network, head, male)
    assert rule == ConsultRule(gate=0.5, weight=WEIGHTS[0])
    assert rule.gate in GATES


def test_fit_writes_a_head_for_the_classifier_that_is_deterministic(tiny_data, tmp_path):
    from pipeline.training.second_opinion_fit import fit_second_opinion

    out, again = tmp_path / "out", tmp_path / "again"
    card = fit_second_opinion(tiny_data, out, cache_dir=tmp_path / "cache", quiet=True)
    fit_second_opinion(tiny_data, again, cache_dir=tmp_path / "cache", quiet=True)
    assert (out / f"{CARD_NAME}.npz").read_bytes() == (again / f"{CARD_NAME}.npz").read_bytes()
    written = json.loads((out / f"{CARD_NAME}.json").read_text())
    assert written["rule"] == card["rule"] and card["rule"]["weight"] in WEIGHTS
    for name in ("val", "held-out"):
        figures = card["accuracy_percent"][name]
        assert set(figures) == {"network", "head", "second_opinion", "consulted_percent"}
        assert figures["network"]["count"] > 0
    DescriptorHead.load(out / f"{CARD_NAME}.npz")
    # fitted to the shipped classifier, so it is used with it
    from pipeline.classify import load_classifier

    network = load_classifier(device="cpu")
    assert with_second_opinion(network, out) is not network


def test_fit_without_validation_faces_is_one_clear_error(tiny_data, tmp_path, capsys):
    import shutil

    from stream.cli import main

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    shutil.rmtree(data / "gender" / "val")
    with pytest.raises(SystemExit) as done:
        main(["fit", "second-opinion", "--data", str(data), "--out", str(tmp_path / "out"),
              "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    code, err = done.value.code, capsys.readouterr().err
    assert code == 2 and err.startswith("faceanon: error:") and "gender/val" in err
    assert not (tmp_path / "out" / f"{CARD_NAME}.json").exists()
    assert not (tmp_path / "cache").exists()  # refused before any face was aligned
