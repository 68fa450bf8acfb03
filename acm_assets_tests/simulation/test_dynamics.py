import numpy as np
import pandas as pd
import pytest

from acm_assets.simulation.dynamics import controlled, lag, ou, quantise, sample_and_hold, sticky_loop


def test_lag_is_the_exact_first_order_response():
    dt_h, tau_h = 0.05, 0.4
    out = lag(np.ones(40), tau_h, dt_h, initial=0.0)
    hours = (np.arange(40) + 1) * dt_h
    np.testing.assert_allclose(out, 1.0 - np.exp(-hours / tau_h), rtol=1e-12)
    assert lag(np.full(5, 3.0), tau_h, dt_h)[0] == 3.0  # settled on the first value unless told otherwise


@pytest.mark.parametrize("dt_h", [1 / 3600, 0.05, 1.0])
def test_a_controlled_loop_returns_to_its_set_point_and_its_output_holds_the_load(dt_h):
    """At any cadence, even one much coarser than the loop (1 h against a 5-minute loop)."""
    n = int(np.ceil(10.0 / dt_h)) + 2
    load = np.where(np.arange(n) * dt_h >= 1.0, 2.0, 0.0)
    measurement, output = controlled(load, gain=-0.8, tau_h=0.25, lam_h=0.08, dt_h=dt_h)
    assert abs(measurement[-1]) < 1e-6
    assert output[-1] == pytest.approx(2.0 / 0.8, rel=1e-6)
    assert np.isfinite(measurement).all() and np.abs(measurement).max() <= 2.0 + 1e-9


def test_the_stepped_loop_without_stiction_follows_the_closed_form():
    dt_h = 0.05
    load = lag(ou(np.random.default_rng(0), 400, 0.3, 1.0, dt_h), 0.3, dt_h)
    measurement, output = controlled(load, -0.8, 0.25, 0.08, dt_h)
    stepped_m, stepped_o = sticky_loop(load[99:], -0.8, 0.25, 0.08, dt_h, 0.0, measurement[99], output[99])
    assert np.abs(stepped_o - output[100:]).max() < 0.1 * output.std()  # two discretisations of one loop
    assert np.abs(stepped_m - measurement[100:]).max() < 0.2 * measurement.std() + 1e-3


def test_a_sticking_valve_sets_the_loop_cycling():
    dt_h = 0.05
    load = lag(ou(np.random.default_rng(1), 600, 0.3, 1.0, dt_h), 0.3, dt_h)
    measurement, output = controlled(load, -0.8, 0.25, 0.08, dt_h)
    stuck_m, stuck_o = sticky_loop(load, -0.8, 0.25, 0.08, dt_h, 1.0, measurement[0], output[0])
    assert stuck_m.std() > 1.2 * measurement.std()
    assert stuck_o.std() > output.std()  # the output saw-tooths around the stuck valve
    smooth_m, _ = sticky_loop(load, -0.8, 0.25, 0.08, dt_h, 0.0, measurement[0], output[0])
    assert np.abs(stuck_m - measurement[1:]).mean() > 3 * np.abs(smooth_m - measurement[1:]).mean()


def test_sample_and_hold_shows_each_result_one_dead_time_late():
    index = pd.date_range("2024-01-01", periods=12, freq="3min")
    rows = sample_and_hold((index - index[0]).asi8, pd.Timedelta("6min"), pd.Timedelta("6min"))
    # rows 0-1 show the first sample (taken at 0 min); from 6 min on the sample taken 6 min before, for 6 minutes
    assert rows.tolist() == [0, 0, 0, 0, 2, 2, 4, 4, 6, 6, 8, 8]
    hourly = pd.date_range("2024-01-01", periods=4, freq="1h")
    hourly_rows = sample_and_hold((hourly - hourly[0]).asi8, pd.Timedelta("6min"), pd.Timedelta("6min"))
    assert hourly_rows.tolist() == [0, 0, 1, 2]


def test_quantise_lands_on_the_grid_and_is_idempotent():
    values = np.random.default_rng(2).normal(220.0, 3.0, 1000)
    once = quantise(values, 0.5)
    assert np.array_equal(once, quantise(once, 0.5))
    assert np.allclose(once * 2.0, np.round(once * 2.0)) and np.abs(once - values).max() <= 0.25 + 1e-12
