"""The reference historian exports: fit on each baseline, score its batch."""

from __future__ import annotations

import pytest

from acm_assets.bench.quality import reference_report
from acm_assets.detectors import DetectorEnsemble
from acm_assets.ingest.cleaning import clean_frame
from acm_assets.ingest.csv_reader import read_historian_csv

pytestmark = pytest.mark.shared_data


def _pair(reference_dir, name):
    baseline = clean_frame(read_historian_csv(reference_dir / f"{name}_BASELINE_DATA.csv").frame, source=name)
    batch = clean_frame(
        read_historian_csv(reference_dir / f"{name}_BATCH_DATA.csv").frame, source=name,
        previous_end=baseline.frame.index[-1],
    )
    return baseline.frame, batch.frame


@pytest.mark.parametrize("name", ["FD_FAN", "GAS_TURBINE"])
def test_heldout_slice_is_quiet_and_batch_episodes_are_reported(reference_dir, name):
    baseline, batch = _pair(reference_dir, name)
    report = reference_report(baseline, batch)
    assert report["heldout_alarm_share"] <= 0.01
    assert report["episodes"] >= 1
    assert report["batch_states"]["off"] > 0


def test_fd_fan_stopped_periods_and_out_of_range_readings(reference_dir):
    baseline, batch = _pair(reference_dir, "FD_FAN")
    scores = DetectorEnsemble().fit(baseline).score(batch)
    stopped = scores["operating_state"] == "off"
    assert stopped.mean() > 0.2  # the fan is stopped about a quarter of the batch
    assert not scores.loc[stopped, "alarm"].any()
    assert scores.loc[stopped, "fused_z"].isna().all()


def test_gas_turbine_idle_baseline_trains_on_its_running_hours(reference_dir):
    baseline, batch = _pair(reference_dir, "GAS_TURBINE")
    ensemble = DetectorEnsemble().fit(baseline)
    regime = ensemble.models["regime_model"]
    assert regime.load_tag == "DWATT"
    assert regime.params["off_rows"] > 0.5 * len(baseline)  # idle most of the baseline
    scores = ensemble.score(batch)
    running = scores["operating_state"] == "running"
    assert running.mean() > 0.4 and scores.loc[running, "fused_z"].notna().all()
