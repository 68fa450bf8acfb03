"""Head internals that the rest relies on: the compact forest, the cadence-aware window, novelty."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from acm_assets.detectors import DetectorEnsemble, EnsembleConfig, ModelType
from acm_assets.bench.yardstick import PCAMonitor
from acm_assets.detectors.crossfit import cross_fit, plan_folds
from acm_assets.detectors.heads import IForestHead, OMRHead
from acm_assets.simulation.simulator import healthy_run, simulate


def test_compact_forest_scores_like_scikit_learn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5)).astype(np.float32).astype(np.float64)
    head = IForestHead(columns=[("value", t) for t in "abcde"], scaler={}, fill=np.zeros(5), tags=list("abcde"),
                       fingerprint="", upstream={}, train_rows=600, params={})
    head.fit(x, EnsembleConfig(iforest_trees=16, iforest_samples=64, seed=3), {})
    reference = IsolationForest(n_estimators=16, max_samples=64, random_state=3).fit(x)
    probe = np.vstack([x[:50], rng.normal(scale=4.0, size=(50, 5)).astype(np.float32)])
    np.testing.assert_allclose(head.raw(probe)["iforest"], -reference.score_samples(probe), rtol=1e-6)


def test_hourly_data_gets_a_window_wide_enough_for_a_spread():
    sim = simulate("GAS_TURBINE", days=90, cadence="1h", seed=2, faults=None)
    ensemble = DetectorEnsemble(EnsembleConfig(feature_window="2h")).fit(sim.frame)
    regime = ensemble.models[ModelType.regime_model]
    assert regime.params["configured_durations"]["feature_window"] == 7200.0
    assert regime.params["feature_window_s"] == 3 * 3600.0
    gmm = ensemble.models[ModelType.gmm_model]
    assert np.all(gmm.scale_ > 0) and np.isfinite(gmm.fill).all()


def test_level_excursions_without_residual_support_are_novel_not_faults(fan_ensemble, fan_batch):
    """The level heads alone say the operating point is unusual; the relations between the tags hold: NOVEL,
    never ALERT, and an episode only for a sudden, lasting move (kind novelty)."""
    scores = fan_ensemble.score(fan_batch)
    level = scores[["pca_t2_z", "mhal_z", "iforest_z"]].max(axis=1)
    residual = scores[["ar1_z", "pca_spe_z", "gmm_z", "omr_z"]].max(axis=1)
    consistent = (level >= 3.0) & (residual < 1.5)
    assert consistent.any()
    assert (scores.loc[consistent, "fused_z"] < 3.0).all()
    novel = scores["novelty_z"] >= 3.0
    assert set(scores.loc[novel & (scores["fused_z"] < 3.0), "severity"]) <= {"NOVEL", "TRANSITION"}


def test_start_ups_and_shut_downs_never_alarm():
    sim = simulate("COND_PUMP", days=40, seed=4, faults=None)
    baseline, later = sim.frame.iloc[:3600], sim.frame.iloc[3600:]
    ensemble = DetectorEnsemble().fit(baseline)
    _, state = ensemble.score_with_state(baseline)
    scores, _ = ensemble.score_with_state(later, state)
    ramps = sim.state.loc[later.index].isin(["startup", "shutdown", "off"])
    assert ramps.sum() > 0
    assert not scores.loc[ramps, "alarm"].any()
    assert set(scores.loc[sim.state.loc[later.index] == "off", "operating_state"]) == {"off"}
    assert scores.loc[ramps, "operating_state"].isin(["off", "transition"]).mean() > 0.9


def test_one_noisier_measured_tag_raises_the_variability_head(fan_ensemble, fan_baseline):
    """Three times the outlet pressure's own noise: a clear spread excursion of one tag, which a joint
    density over all the tags' spreads (typical size ~sqrt(tags)) would dilute below any alarm."""
    healthy = fan_baseline.iloc[-288:]
    noisy = healthy.copy()
    noisy["FD1.06GP34_OUTLET_PRESS"] += np.random.default_rng(0).normal(0.0, 0.06, len(noisy))
    before, after = fan_ensemble.score(healthy), fan_ensemble.score(noisy)
    running = after["operating_state"] == "running"
    assert before.loc[running, "gmm_z"].median() < 1.0 < 2.5 < after.loc[running, "gmm_z"].median()
    assert not before["alarm"].any() and after.loc[running, "alarm"].mean() > 0.1
    episodes = fan_ensemble.episodes(after)
    # the tag leads every episode but one that ends at a shut-down, whose first sample moves every tag
    assert all("FD1.06GP34_OUTLET_PRESS" in culprits for culprits in episodes["culprits"])
    assert episodes.loc[episodes["points"].idxmax(), "culprits"][0] == "FD1.06GP34_OUTLET_PRESS"


def test_a_noisy_operating_tag_transmitter_raises_the_variability_head(fan_ensemble, fan_baseline):
    """The inlet flow is an operating tag (it follows demand), yet its transmitter can turn noisy too: the
    spread of first differences cancels the demand trend, so extra noise (here about 1.7 times the
    differences' spread) stands out of the tag's own spread, where the joint density alone misses it."""
    flow = "FD1.FSAA_LEFT_INLET_FLOW"
    assert flow in fan_ensemble.models[ModelType.regime_model].operating_tags
    healthy = fan_baseline.iloc[-288:]
    noisy = healthy.copy()
    noisy[flow] += np.random.default_rng(0).normal(0.0, healthy[flow].diff().std(), len(noisy))
    before, after = fan_ensemble.score(healthy), fan_ensemble.score(noisy)
    running = after["operating_state"] == "running"
    assert before.loc[running, "gmm_z"].median() < 1.0 < 2.5 < after.loc[running, "gmm_z"].median()
    assert after.loc[running, "alarm"].mean() > 0.15
    assert all(culprits[0] == flow for culprits in fan_ensemble.episodes(after)["culprits"])


def test_a_tag_that_wanders_on_its_own_is_scaled_by_its_out_of_fold_residuals():
    """Tag c drifts in the last fifth of the rows, which no other tag explains: the fold model that never saw the
    drift leaves wide residuals on it, and c's scale widens; the tags that explain each other keep theirs."""
    rng = np.random.default_rng(0)
    n = 1000
    load = rng.normal(size=n)
    wander = np.concatenate([rng.normal(0.0, 1.0, 800), 3.0 + rng.normal(0.0, 1.0, 200)])
    x = np.column_stack([load, 2.0 * load + 0.1 * rng.normal(size=n), wander])
    head = OMRHead(columns=[("value", t) for t in "abc"], scaler={}, fill=np.zeros(3), tags=list("abc"),
                   fingerprint="", upstream={}, train_rows=n, params={})
    head.fit(x, EnsembleConfig(), {"value_floor": np.zeros(3)})
    times = np.arange(n, dtype=np.int64) * 10**9
    result = cross_fit(head, x, plan_folds(times, 5, 0, 0), np.ones(n, bool), np.ones(n, bool), lambda rows: rows)
    assert head.oof_scale_[2] > 1.3 and np.allclose(head.oof_scale_[:2], 1.0, atol=0.2)
    assert abs(np.median(result["z"]["omr"])) < 0.1


def test_a_rig_still_warming_through_a_short_baseline_alarms_far_less_than_the_textbook_monitor():
    """A 1 Hz rig's first 400 s as the baseline: its housing and water temperatures keep rising after it, on
    their own (no other tag explains them). A monitor that judges them as levels (the textbook PCA T² + Q at
    99 %) alarms on a fifth to a third of the rest."""
    ours, theirs = [], []
    for seed in range(4):
        run = healthy_run("PUMP_RIG", 1150, seed=seed).frame
        ensemble = DetectorEnsemble().fit(run.iloc[:400])
        _, state = ensemble.score_with_state(run.iloc[:400])
        scores, _ = ensemble.score_with_state(run.iloc[400:], state)
        ours.append(scores["alarm"].mean())
        theirs.append(PCAMonitor().fit(run.iloc[:400].to_numpy()).alarms(run.iloc[400:].to_numpy()).mean())
    assert np.mean(ours) < 0.5 * np.mean(theirs)


def test_hotelling_t2_leaves_noise_level_components_to_the_residual():
    """500 rows of a 50-tag process: 90 % of the variance needs some 22 components, the last ones at noise level,
    whose variance a second run does not repeat; T² on them was at alert on 40 % of a second healthy run."""
    ensemble = DetectorEnsemble().fit(healthy_run("CHEM_PROCESS", 500, seed=0).frame)
    pca = ensemble.models[ModelType.pca_model]
    assert pca.variance_.min() > pca.params["noise_edge"]
    assert pca.params["explained_variance"] < 0.9
    second = ensemble.score(healthy_run("CHEM_PROCESS", 960, seed=1000).frame)
    assert (second["pca_t2_z"] >= 3.0).mean() < 0.2
