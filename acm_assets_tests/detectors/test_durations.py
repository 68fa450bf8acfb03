"""Durations derived from the baseline's cadence and length; explicit ones kept; both recorded."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_assets.detectors import DetectorEnsemble, EnsembleConfig, ModelType
from acm_assets.detectors.durations import Durations
from acm_assets.simulation.simulator import simulate

HOUR = 3600.0


def _times(cadence: str, rows: int):
    return pd.date_range("2024-01-01", periods=rows, freq=cadence, tz="UTC").asi8


def test_at_ten_minutes_the_rules_give_the_classic_durations():
    durations = Durations.derive(_times("10min", 60 * 144), EnsembleConfig())
    seconds = {name: ns / 1e9 for name, ns in durations.values_ns.items()}
    assert seconds == {
        "feature_window": 2 * HOUR, "ffill_limit": HOUR, "ar_max_gap": 2 * HOUR, "on_hold": HOUR,
        "off_hold": HOUR, "strong_hold": HOUR / 3, "startup_settle": 2 * HOUR, "max_startup_settle": 12 * HOUR,
    }
    assert durations.steps("on_hold") == 6 and durations.steps("strong_hold") == 2


def test_a_short_one_second_baseline_gets_durations_it_can_hold():
    durations = Durations.derive(_times("1s", 400), EnsembleConfig())
    assert durations.ns("feature_window") == int(0.05 * 399 * 10**9)
    assert durations.ns("on_hold") == durations.ns("feature_window") // 2  # half a window, not 6 samples
    assert durations.ns("startup_settle") == int(0.05 * 399 * 10**9)  # 5 % of the span, not 2 h
    assert durations.ns("max_startup_settle") == int(0.25 * 399 * 10**9)


def test_holds_last_at_least_half_a_feature_window():
    """At 1 minute a 2 h window's spread stays up for most of 2 h on its own: 6 samples would confirm nothing."""
    durations = Durations.derive(_times("1min", 14 * 1440), EnsembleConfig())
    assert durations.ns("on_hold") / 1e9 == durations.ns("off_hold") / 1e9 == HOUR
    assert durations.ns("strong_hold") / 1e9 == HOUR / 3


def test_hourly_data_keeps_a_physical_settling_time():
    durations = Durations.derive(_times("1h", 24 * 365), EnsembleConfig())
    assert durations.ns("startup_settle") / 1e9 == 2 * HOUR
    assert durations.ns("max_startup_settle") / 1e9 == 12 * HOUR
    assert durations.ns("on_hold") / 1e9 == 6 * HOUR


def test_explicit_durations_override_and_are_recorded():
    config = EnsembleConfig(on_hold="30min", startup_settle="3h")
    durations = Durations.derive(_times("10min", 1000), config)
    assert durations.ns("on_hold") / 1e9 == 1800 and durations.ns("startup_settle") / 1e9 == 3 * HOUR
    assert "on_hold" not in durations.derived and "off_hold" in durations.derived
    effective = config.effective()
    assert effective["on_hold"] == 1800.0
    assert effective["off_hold"] == "auto: max(6 cadences, 0.5 feature window)"
    assert config.signature() != EnsembleConfig().signature()


def test_a_400_sample_one_second_baseline_fits_and_records_its_durations():
    """Durations in hours would leave only a few dozen of 400 rows running (settling for 2 h)."""
    sim = simulate("FD_FAN", days=400 / 86400, cadence="1s", seed=1, faults=None)
    ensemble = DetectorEnsemble().fit(sim.frame)
    regime = ensemble.models[ModelType.regime_model]
    recorded = regime.params["durations"]
    assert recorded["cadence_s"] == 1.0 and recorded["baseline_rows"] == 400
    assert recorded["feature_window_s"] == 19.95 and recorded["on_hold_s"] == 9.975
    assert regime.params["configured_durations"]["on_hold"] == "auto: max(6 cadences, 0.5 feature window)"
    scores = ensemble.score(simulate("FD_FAN", days=400 / 86400, cadence="1s", seed=2, faults=None).frame)
    assert scores["fused_z"].notna().all()


def test_models_fitted_with_other_durations_are_refused(fan_ensemble):
    with pytest.raises(ValueError, match=r"regime_model was fitted with on_hold=auto: max\(6 cadences, 0.5 feature "
                                         r"window\) but the config says on_hold=1800.0"):
        DetectorEnsemble.from_models(fan_ensemble.models, EnsembleConfig(on_hold="30min"))
