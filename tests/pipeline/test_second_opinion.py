"""The classifier's second opinion: asked only under the gate, fused by the rule, shipped for
the shipped classifier."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline.errors import WeightsError
from pipeline.second_opinion import (
    CARD_NAME,
    ConsultRule,
    DescriptorHead,
    SecondOpinionClassifier,
    male_log_odds,
    verdict_of,
    with_second_opinion,
)
from pipeline.types import Gender, Verdict
from pipeline.weights import default_weights_dir


class FixedNetwork:
    """A classifier whose verdicts are given in advance."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        self.verdicts = verdicts
        self.card = {"sha256": "network"}

    def classify(self, crops):
        return self.verdicts[: len(crops)]


def head_saying(log_odds_per_unit: float) -> DescriptorHead:
    """A head whose log-odds of male is `log_odds_per_unit` times a descriptor's first value."""
    weights = np.zeros(128)
    weights[0] = log_odds_per_unit
    return DescriptorHead(np.zeros(128), np.ones(128), weights, 0.0)


def test_log_odds_and_verdicts_are_inverse():
    for verdict in (Verdict(Gender.MALE, 0.9), Verdict(Gender.FEMALE, 0.6)):
        back = verdict_of(male_log_odds(verdict))
        assert back.gender is verdict.gender
        assert back.confidence == pytest.approx(verdict.confidence)
    assert male_log_odds(Verdict(Gender.FEMALE, 0.75)) == pytest.approx(-np.log(3))


def test_only_faces_under_the_gate_are_described_and_the_head_can_overrule():
    sure = Verdict(Gender.MALE, 0.99)  # log-odds 4.6
    unsure = Verdict(Gender.MALE, 0.6)  # log-odds 0.41
    described = []

    def describe(crop):
        described.append(crop)
        descriptor = np.zeros(128)
        descriptor[0] = -1.0  # the head says female, log-odds -3
        return descriptor

    classifier = SecondOpinionClassifier(
        FixedNetwork([sure, unsure]), head_saying(3.0), ConsultRule(gate=2.0, weight=0.5), describe
    )
    first, second = classifier.classify(["sure face", "unsure face"])
    assert described == ["unsure face"] and classifier.consulted == 1
    assert first == sure
    assert second.gender is Gender.FEMALE  # 0.41 - 0.5 * 3 < 0
    assert second.confidence == pytest.approx(1 / (1 + np.exp(-(0.5 * 3 - np.log(1.5)))))


def test_a_weak_head_does_not_overrule():
    unsure = Verdict(Gender.FEMALE, 0.7)  # log-odds of male -0.85

    def describe(crop):
        descriptor = np.zeros(128)
        descriptor[0] = 1.0  # the head says male, log-odds +1
        return descriptor

    classifier = SecondOpinionClassifier(
        FixedNetwork([unsure]), head_saying(1.0), ConsultRule(gate=2.0, weight=0.5), describe
    )
    assert classifier.classify(["face"])[0].gender is Gender.FEMALE


def test_head_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    head = DescriptorHead(rng.normal(size=128), rng.random(128) + 0.5, rng.normal(size=128), 0.3)
    head.save(tmp_path / "head.npz")
    loaded = DescriptorHead.load(tmp_path / "head.npz")
    x = rng.normal(size=(5, 128))
    np.testing.assert_allclose(loaded.logits(x), head.logits(x))


def test_a_head_of_the_wrong_size_is_refused(tmp_path):
    np.savez(tmp_path / "head.npz", mean=np.zeros(3), scale=np.ones(3), weights=np.ones(3), bias=0)
    with pytest.raises(WeightsError, match="128"):
        DescriptorHead.load(tmp_path / "head.npz")


def test_the_shipped_head_goes_with_the_shipped_classifier():
    from pipeline.classify import read_classifier_card

    card = json.loads((default_weights_dir() / f"{CARD_NAME}.json").read_text())
    classifier_card, _, _ = read_classifier_card()
    assert card["classifier_sha256"] == classifier_card["sha256"]
    network = FixedNetwork([])
    network.card = classifier_card
    wrapped = with_second_opinion(network)
    assert isinstance(wrapped, SecondOpinionClassifier)
    assert wrapped.rule.gate > 0 and wrapped.rule.weight > 0


def test_other_classifier_weights_or_no_head_leave_the_network_alone(tmp_path):
    network = FixedNetwork([])  # its sha256 is not the one the head was fitted to
    assert with_second_opinion(network) is network
    assert with_second_opinion(network, tmp_path) is network  # a folder without a head


def copy_shipped_head(folder) -> None:
    for name in (f"{CARD_NAME}.json", f"{CARD_NAME}.npz"):
        shutil.copy(default_weights_dir() / name, folder / name)


def test_a_damaged_head_is_refused(tmp_path):
    copy_shipped_head(tmp_path)
    with (tmp_path / f"{CARD_NAME}.npz").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(WeightsError, match="checksum"):
        with_second_opinion(FixedNetwork([]), tmp_path)


def test_the_shipped_head_tells_most_synthetic_faces_apart(synthetic_faces):
    """dlib's descriptor and the shipped head on the project's synthetic faces (two of each
    gender; the network alone also gets three of the four)."""
    from pipeline.align import align_face
    from pipeline.second_opinion import crop_describer

    card = json.loads((default_weights_dir() / f"{CARD_NAME}.json").read_text())
    head = DescriptorHead.load(default_weights_dir() / card["file"])
    describe = crop_describer()
    crops = [align_face(face.image, face.landmarks) for face in synthetic_faces]
    odds = head.logits(np.stack([describe(crop) for crop in crops]))
    male = np.array([face.gender is Gender.MALE for face in synthetic_faces])
    assert ((odds > 0) == male).sum() >= 3, odds


def test_a_card_without_a_usable_rule_is_refused(tmp_path):
    copy_shipped_head(tmp_path)
    card = json.loads((tmp_path / f"{CARD_NAME}.json").read_text())
    card["rule"] = {"gate": "wide"}
    (tmp_path / f"{CARD_NAME}.json").write_text(json.dumps(card))
    from pipeline.classify import read_classifier_card

    network = FixedNetwork([])
    network.card = read_classifier_card()[0]
    with pytest.raises(WeightsError, match="rule"):
        with_second_opinion(network, tmp_path)
