"""`fit swapper` on a tiny synthetic data folder: writes a model and card that load and swap."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from pipeline.align import align_face
from pipeline.latent.swapper import LatentSwapper
from pipeline.training.latent_fit import (
    FitConfig,
    choose_pull,
    choose_strength,
    discriminant_direction,
    fit_swapper,
    recalibrate_strength,
)
from pipeline.training.swap_eval import SwapFigures
from pipeline.types import Gender

TINY = FitConfig(
    texture_size=48,
    texture_components=6,
    context_size=24,
    context_components=4,
    alpha_grid=(0.5, 1.0),
    shape_gains=(1.0,),
    calibration_faces=3,
    identity_faces=2,
)


def test_fit_writes_a_model_that_loads_and_swaps(tiny_data, tmp_path, synthetic_faces):
    card = fit_swapper(tiny_data, tmp_path / "w", TINY, cache_dir=tmp_path / "cache", quiet=True)
    written = json.loads((tmp_path / "w" / "latent_swapper.json").read_text())
    assert written["default_strength"] in TINY.alpha_grid
    assert written["model"]["texture_components"] == 6
    assert 0 < written["model"]["shape_variance_explained"] <= 1
    assert {c["variant"].split(",")[0] for c in card["candidates"]} == {
        "class centres",
        "discriminant",
    }
    swapper = LatentSwapper.load(tmp_path / "w")
    face = synthetic_faces[0]
    crop = align_face(face.image, face.landmarks)
    out = swapper.swap([crop], [Gender.MALE])[0]
    assert out.image.shape == crop.image.shape and not np.array_equal(out.image, crop.image)


def test_fit_is_deterministic(tiny_data, tmp_path):
    for run in ("a", "b"):
        fit_swapper(tiny_data, tmp_path / run, TINY, cache_dir=tmp_path / "cache", quiet=True)
    a = np.load(tmp_path / "a" / "latent_swapper.npz")
    b = np.load(tmp_path / "b" / "latent_swapper.npz")
    for name in ("shape_basis", "texture_basis", "direction_texture"):
        assert np.allclose(a[name], b[name], atol=1e-5), name


def test_discriminant_separates_better_than_the_centres():
    """Classes apart along axis 0, plus a large nuisance shared with it on axis 1: projected
    on Fisher's normal the classes overlap less than on the class-centre difference."""
    rng = np.random.default_rng(0)
    n = 2000
    labels = np.repeat([0, 1], n)
    codes = rng.standard_normal((2 * n, 2)) * [1.0, 6.0]
    codes[:, 0] += labels * 2.0
    codes[:, 1] += codes[:, 0] * 2.0

    def accuracy(direction: np.ndarray) -> float:
        projected = codes @ direction
        threshold = (projected[labels == 0].mean() + projected[labels == 1].mean()) / 2
        return float(((projected > threshold) == labels).mean())

    centres = codes[labels == 1].mean(0) - codes[labels == 0].mean(0)
    fisher = discriminant_direction(codes, codes.std(axis=0), labels, ridge=1e-3)
    assert accuracy(fisher) > accuracy(centres) + 0.05


class ScriptedEvaluator:
    """Stands in for the swap evaluator: per α, or per identity pull of `swapper` when one is
    given, (flip %, still detected %, unmatched %)."""

    def __init__(self, table: dict[float, tuple[int, int, int]], swapper=None) -> None:
        self.table = table
        self.swapper = swapper
        self.identity_calls: list[float] = []

    def evaluate(self, cases, alpha, identity=False, quiet=True) -> SwapFigures:
        key = alpha if self.swapper is None else self.swapper.identity_pull
        flip, detected, unmatched = self.table[key]
        figures = SwapFigures(alpha, faces=100, detected=detected, detectable=100)
        figures.flipped = {g.value: [flip, 100] for g in Gender}
        if identity:
            self.identity_calls.append(key)
            figures.distances = [0.7] * unmatched + [0.5] * (100 - unmatched)
        return figures


GRID = FitConfig(alpha_grid=(1.0, 1.5, 2.0, 2.5, 3.0), pull_grid=(0.0, 0.25, 0.5, 0.75))


def test_strength_is_the_smallest_meeting_flip_and_detection():
    evaluator = ScriptedEvaluator({1.0: (90, 100, 10), 1.5: (98, 99, 40), 2.0: (99, 99, 91)})
    alpha, tried, identity = choose_strength(evaluator, [], [], GRID)
    assert alpha == 1.5 and identity.unmatched_rate == 0.4
    assert [f.alpha for f in tried] == [1.0, 1.5]
    assert evaluator.identity_calls == [1.5]


def test_strength_stops_where_detection_gives_out():
    evaluator = ScriptedEvaluator({1.0: (90, 99, 30), 1.5: (95, 97, 60), 2.0: (99, 99, 95)})
    alpha, tried, _ = choose_strength(evaluator, [], [], GRID)
    assert alpha == 1.5 and [f.alpha for f in tried] == [1.0, 1.5]


class PullKnob:
    identity_pull = 0.0


def test_pull_is_the_smallest_that_unmatches_enough_faces():
    knob = PullKnob()
    table = {0.0: (98, 99, 40), 0.25: (99, 99, 70), 0.5: (99, 99, 92), 0.75: (99, 99, 99)}
    choice = choose_pull(ScriptedEvaluator(table, knob), knob, 1.5, [], [], GRID)
    assert choice.pull == 0.5 and knob.identity_pull == 0.5
    assert choice.identity.unmatched_rate == 0.92
    assert [row["identity_pull"] for row in choice.tried] == [0.0, 0.25, 0.5]


def test_pull_may_cost_no_flips_or_detections():
    knob = PullKnob()
    table = {0.0: (98, 99, 40), 0.25: (99, 99, 70), 0.5: (99, 97, 92), 0.75: (99, 99, 99)}
    choice = choose_pull(ScriptedEvaluator(table, knob), knob, 1.5, [], [], GRID)
    assert choice.pull == 0.25 and choice.identity.unmatched_rate == 0.7


def test_pull_below_a_target_the_gender_change_missed_must_not_lose_more():
    """α alone left detection at 97 % (target 98 %): a pull that keeps it there is taken, one
    that loses more is not."""
    knob = PullKnob()
    table = {0.0: (98, 97, 40), 0.25: (99, 97, 80), 0.5: (99, 96, 95), 0.75: (99, 99, 99)}
    choice = choose_pull(ScriptedEvaluator(table, knob), knob, 1.5, [], [], GRID)
    assert choice.pull == 0.25 and knob.identity_pull == 0.25


def test_recalibration_keeps_the_model_and_records_both_choices(tiny_data, tmp_path):
    weights = tmp_path / "w"
    fit_swapper(tiny_data, weights, TINY, cache_dir=tmp_path / "cache", quiet=True)
    before = dict(np.load(weights / "latent_swapper.npz"))
    config = replace(TINY, alpha_grid=(2.0, 3.0))
    card = recalibrate_strength(
        tiny_data, weights, config, cache_dir=tmp_path / "cache", quiet=True
    )
    after = dict(np.load(weights / "latent_swapper.npz"))
    assert card["default_strength"] in (2.0, 3.0)
    assert LatentSwapper.load(weights).default_strength == card["default_strength"]
    assert card["fit_strength_choice"]["default_strength"] in TINY.alpha_grid
    assert card["recalibration"]["grid"][0]["alpha"] == 2.0
    assert card["identity_pull"] in config.pull_grid
    assert LatentSwapper.load(weights).identity_pull == card["identity_pull"]
    assert card["pull_choice"]["grid"][0]["identity_pull"] == 0.0
    assert "model" in card and "candidates" in card  # the fit's record is kept
    for name in ("shape_basis", "texture_basis", "direction_texture"):
        assert np.array_equal(before[name], after[name]), name
