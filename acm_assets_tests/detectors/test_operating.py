"""Operating states learned from the baseline: how long start-ups take to settle, which rows calibrate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acm_assets.detectors import DetectorEnsemble, EnsembleConfig, ModelType
from acm_assets.detectors.crossfit import MIN_CALIBRATION_ROWS, cross_fit, plan_folds
from acm_assets.detectors.fitting import fit_model, learning_rows
from acm_assets.detectors.heads import OMRHead
from acm_assets.detectors.inputs import Carry, build_inputs
from acm_assets.detectors.operating import RUNNING, TRANSITION
from acm_assets.simulation.simulator import simulate

HOUR = 3600.0


@pytest.fixture(scope="module")
def fan_season():
    """FD_FAN, 120 days, no faults: its bearing and winding temperatures settle over hours after a start-up."""
    sim = simulate("FD_FAN", days=120, seed=9, faults=None)
    split = sim.frame.index[0] + pd.Timedelta(days=80)
    return sim.frame[sim.frame.index < split], sim.frame[sim.frame.index >= split]


def _episodes_after_settle(baseline, later, config):
    """Episodes on the later span, and how many open within 1 h after a start-up's settling ended."""
    ensemble = DetectorEnsemble(config).fit(baseline)
    _, state = ensemble.score_with_state(baseline)
    scores, _ = ensemble.score_with_state(later, state)
    episodes = ensemble.episodes(scores)
    off = pd.Series(np.where(scores["operating_state"] == "off", scores.index.asi8, np.nan), index=scores.index)
    last_off = off.ffill()
    settle = ensemble.models[ModelType.regime_model].settle_ns
    since = [(onset.value - last_off.loc[onset]) for onset in episodes["onset"]]
    return ensemble, sum(settle <= s <= settle + HOUR * 1e9 for s in since if not np.isnan(s))


def test_settling_time_is_learned_from_the_baselines_start_ups(fan_season):
    baseline, later = fan_season
    fixed = EnsembleConfig(startup_settle="2h", max_startup_settle="2h")
    _, fixed_after_settle = _episodes_after_settle(baseline, later, fixed)
    learned, learned_after_settle = _episodes_after_settle(baseline, later, EnsembleConfig())
    regime = learned.models[ModelType.regime_model]
    assert regime.params["settle_learning"]["learned"]
    assert 2 * HOUR < regime.settle_ns / 1e9 <= 12 * HOUR
    assert regime.min_settle_ns / 1e9 == 2 * HOUR
    # a fixed 2 h settle lets still-warming temperatures open episodes as soon as it ends; the learned one not
    assert fixed_after_settle >= 2
    assert learned_after_settle == 0


def test_calibration_uses_settled_rows_only(fan_season):
    baseline, _ = fan_season
    ensemble = DetectorEnsemble().fit(baseline)
    regime = ensemble.models[ModelType.regime_model]
    state = regime.states(baseline[list(regime.tags)].to_numpy(float), baseline.index.asi8, None)[0]
    running = pd.Series(state == RUNNING, index=baseline.index.asi8)
    for model_type in (ModelType.pca_model, ModelType.omr_model, ModelType.gmm_model):
        out_of_fold = ensemble.models[model_type].oof_times
        assert len(out_of_fold) >= 50 and running.loc[out_of_fold].all()


def test_without_enough_start_ups_the_configured_settle_is_kept(fan_season):
    baseline, _ = fan_season
    state = simulate("FD_FAN", days=120, seed=9, faults=None).state.loc[baseline.index]
    one_run = baseline[(state == "running").to_numpy()]
    longest = one_run.index.to_series().diff().gt(pd.Timedelta("10min")).cumsum()
    one_run = one_run[longest == longest.value_counts().idxmax()]
    regime = fit_model(ModelType.regime_model, one_run, EnsembleConfig())
    assert regime.params["settle_learning"]["learned"] is False
    assert regime.settle_ns / 1e9 == 2 * HOUR


def test_two_start_ups_are_enough_to_learn_the_settling_time(fan_season):
    """A 60-day weekly baseline of a machine that rarely stops may hold only two start-ups."""
    baseline, _ = fan_season
    regime = fit_model(ModelType.regime_model, baseline[baseline.index < "2024-02-10"], EnsembleConfig())
    assert regime.params["settle_learning"]["startups"] == 2
    assert regime.params["settle_learning"]["learned"]
    assert regime.settle_ns / 1e9 > 2 * HOUR


def test_out_of_fold_rows_mostly_settling_calibrate_on_all_of_them(fan_season):
    """Too few settled out-of-fold rows would leave the calibrators a handful of points: all rows are kept."""
    baseline, _ = fan_season
    config = EnsembleConfig()
    regime = fit_model(ModelType.regime_model, baseline, config)
    medians = fit_model(ModelType.feature_medians, baseline, config, {ModelType.regime_model: regime})
    raw = baseline[list(regime.tags)].to_numpy(float)
    inputs, _, _, _ = build_inputs(raw, baseline.index.asi8, regime, medians,
                                   last_low_ns=None, carry=Carry.empty(len(regime.tags)))
    learnable = regime.states(raw, baseline.index.asi8, None, settle_ns=regime.min_settle_ns)[0] == RUNNING
    rows, _ = learning_rows(inputs, learnable, config)
    x = inputs.subset(rows).matrix([("value", t) for t in regime.tags])
    plan = plan_folds(inputs.times[rows], 5, regime.memory_ns, regime.window_ns)

    def calibrated_on(settled):
        head = OMRHead(columns=[("value", t) for t in regime.tags], scaler={}, fill=np.zeros(len(regime.tags)),
                       tags=regime.tags, fingerprint="", upstream={}, train_rows=0, params={})
        head.fit(x, config, {"value_floor": np.zeros(len(regime.tags))})
        return cross_fit(head, x, plan, np.ones(len(rows), bool), settled, lambda r: r)["rows"]

    settled = inputs.state[rows] == RUNNING
    assert (calibrated_on(settled) <= settled).all() and calibrated_on(settled).sum() >= MIN_CALIBRATION_ROWS
    few = settled & (np.arange(len(rows)) < 5)  # as if nearly every row were still settling
    assert calibrated_on(few).sum() > 10 * MIN_CALIBRATION_ROWS
