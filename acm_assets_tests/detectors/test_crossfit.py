"""Time-blocked cross-fitting: blocks, gaps at least the process memory, final models on every row, and the
plan recorded in every head."""

from __future__ import annotations

import numpy as np
import pytest

from acm_assets.detectors import ModelType
from acm_assets.detectors.crossfit import plan_folds, process_memory_ns

SECOND = 10**9


def test_each_fold_leaves_out_its_block_and_a_gap_on_either_side():
    times = np.arange(1000, dtype=np.int64) * 60 * SECOND
    plan = plan_folds(times, 5, memory_ns=30 * 60 * SECOND, window_ns=10 * 60 * SECOND)
    assert plan.gap_ns == 30 * 60 * SECOND and not plan.gap_capped
    assert np.array_equal(np.concatenate([test for _, test in plan.blocks]), np.arange(1000))
    for train, test in plan.blocks:
        distance = np.min(np.abs(times[train][:, None] - times[test][None, :]), axis=1)
        assert distance.min() > plan.gap_ns and len(train) + len(test) + 60 >= 1000


def test_a_memory_longer_than_half_a_block_is_capped_there():
    times = np.arange(500, dtype=np.int64) * SECOND
    plan = plan_folds(times, 5, memory_ns=400 * SECOND, window_ns=0)
    assert plan.gap_capped and plan.gap_ns == int(times[-1] // 10)
    assert all(len(train) >= 250 for train, _ in plan.blocks)


@pytest.mark.parametrize("phi", [0.5, 0.9, 0.98])
def test_process_memory_is_the_e_folding_lag_of_the_autocorrelation(phi):
    rng = np.random.default_rng(0)
    x = np.zeros((20000, 3))
    for t in range(1, len(x)):
        x[t] = phi * x[t - 1] + rng.normal(size=3)
    expected = -1.0 / np.log(phi)
    assert process_memory_ns(x, SECOND) / SECOND == pytest.approx(expected, rel=0.15, abs=1.0)


def test_every_head_records_the_plan_and_final_models_learn_from_every_row(fan_ensemble):
    regime = fan_ensemble.models[ModelType.regime_model]
    for model_type in (ModelType.ar1_params, ModelType.pca_model, ModelType.omr_model, ModelType.gmm_model):
        artifact = fan_ensemble.models[model_type]
        plan = artifact.params["cross_fitting"]
        assert plan["method"] == "time-blocked cross-fitting" and plan["folds"] == 5
        assert plan["gap_s"] >= min(plan["process_memory_s"], plan["feature_window_s"])
        assert plan["process_memory_s"] == regime.memory_ns / 1e9
        assert plan["out_of_fold_rows"] >= len(artifact.oof_times)
        assert max(plan["train_rows_per_fold"]) < artifact.train_rows  # the final fit has every fold's rows
    assert abs(np.median(fan_ensemble.models[ModelType.omr_model].oof_z["omr"])) < 0.1
