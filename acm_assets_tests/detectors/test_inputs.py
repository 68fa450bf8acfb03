"""What the heads read: lags one baseline cadence back, spreads only from windows that can hold one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_assets.detectors import DetectorEnsemble, ModelType
from acm_assets.detectors.features import hold_rows, lag_rows
from acm_assets.simulation.simulator import healthy_run, simulate

MINUTE = 60 * 10**9


def test_a_lag_is_the_previous_row_at_the_baselines_cadence_even_with_minute_jitter():
    times = np.array([0, 59, 120, 181, 240], dtype=np.int64) * MINUTE
    assert lag_rows(times, 60 * MINUTE).tolist() == [-1, 0, 1, 2, 3]


def test_a_lag_in_finer_data_reaches_one_baseline_cadence_back():
    times = np.arange(0, 120, 10, dtype=np.int64) * MINUTE  # 10-minute data, 30-minute baseline
    lag = lag_rows(times, 30 * MINUTE)
    assert lag.tolist() == [-1, -1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert (times[3:] - times[lag[3:]] == 30 * MINUTE).all()


def test_a_tag_that_holds_its_readings_needs_longer_windows():
    held = np.repeat(np.arange(20.0), 5)  # a 15-minute analyser sampled every 3 minutes
    noisy = np.random.default_rng(0).normal(size=100)
    assert hold_rows(np.column_stack([held, noisy])).tolist() == [10, 3]


def test_a_fresh_run_of_a_plant_with_analysers_starts_quietly():
    """Scored without history, the first rows' windows hold a few readings of analysers that repeat each
    result: spreads from them would read as frozen sensors."""
    ensemble = DetectorEnsemble().fit(healthy_run("CHEM_PROCESS", 500, seed=0).frame)
    regime = ensemble.models[ModelType.regime_model]
    assert regime.params["spread_rows"]["CH1.AI219_PRODUCT_H"] >= 10  # its result repeats 5 times
    scores = ensemble.score(healthy_run("CHEM_PROCESS", 40, seed=2002).frame)
    assert (scores["gmm_z"].iloc[:15] < 1.0).all()


def test_a_baseline_at_30_minutes_scored_at_10_minutes_sees_no_frozen_sensors():
    baseline = simulate("COND_PUMP", days=60, cadence="30min", seed=4, faults=None).frame
    later = simulate("COND_PUMP", start="2024-03-01", days=14, cadence="10min", seed=5, faults=None).frame
    ensemble = DetectorEnsemble().fit(baseline)
    scores = ensemble.score(later)
    running = scores["operating_state"] == "running"
    assert (scores.loc[running, "gmm_z"] >= 3.0).mean() < 0.02


def test_the_mixture_gets_only_the_covariance_its_baseline_supports(fan_ensemble):
    short = DetectorEnsemble().fit(healthy_run("CHEM_PROCESS", 500, seed=0).frame).models[ModelType.gmm_model]
    assert short.params["covariance"] == "diagonal" and short.params["components"] == 1
    long = fan_ensemble.models[ModelType.gmm_model]
    assert long.params["covariance"] == "full"
    assert long.params["independent_spreads"] > 10 * len(long.columns)
