"""The real historian exports: healthy data the models never saw stays quiet, real faults and shifts are found."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_assets.bench.exports import BEARING_TAG, HELD_BACK, read_export, score_after
from acm_assets.detectors import DetectorEnsemble, EnsembleConfig

pytestmark = pytest.mark.shared_data


def _held_back(reference_dir, file):
    frame = read_export(reference_dir / file)
    cut = frame.index[int(round(len(frame) * (1.0 - HELD_BACK)))]
    return frame[frame.index < cut], frame[frame.index >= cut]


@pytest.mark.parametrize(
    "file", ["FD_FAN_BASELINE_DATA.csv", "COND_PUMP_TRAINING_DATA.csv", "MOTOR_TRAINING_DATA.csv"]
)
def test_the_healthy_last_fifth_of_each_training_export_stays_quiet(reference_dir, file):
    report = score_after(*_held_back(reference_dir, file), EnsembleConfig())
    assert report["running_alarm_share"] <= 0.01
    assert report["episodes"] <= 2


def test_the_gas_turbines_real_shift_in_its_last_fifth_is_reported(reference_dir):
    """B2RADVIBY runs 2.5 baseline deviations high in the last fifth: an operator should see it."""
    report = score_after(*_held_back(reference_dir, "GAS_TURBINE_BASELINE_DATA.csv"), EnsembleConfig())
    assert report["running_alarm_share"] > 0.3
    assert any("B2RADVIBY" in e["culprits"] for e in report["episode_list"])


def test_the_condensate_pumps_developing_bearing_fault_is_found(reference_dir):
    report = score_after(read_export(reference_dir / "COND_PUMP_TRAINING_DATA.csv"),
                         read_export(reference_dir / "COND_PUMP_FAULT_DATA.csv"), EnsembleConfig())
    start, end = pd.Timestamp("2020-03-13", tz="UTC"), pd.Timestamp("2020-03-26", tz="UTC")
    hits = [e for e in report["episode_list"]
            if pd.Timestamp(e["start"]) < end and pd.Timestamp(e["start"]) + pd.Timedelta(hours=e["hours"]) >= start]
    assert any(BEARING_TAG in e["culprits"][:3] for e in hits)


def test_motor_outages_are_found_without_meaningful_tag_names(reference_dir):
    """DEMO.SIM.II100 (the current) says nothing by its name; its 262 h and 510 h outages near zero do."""
    baseline = read_export(reference_dir / "MOTOR_TRAINING_DATA.csv")
    ensemble = DetectorEnsemble().fit(baseline)
    regime = ensemble.models["regime_model"]
    assert regime.params["stop_detection"]["method"] == "data"
    assert "DEMO.SIM.II100" in regime.off_tags
    scores = ensemble.score(baseline)
    outage = (baseline["DEMO.SIM.II100"] < 1.0) & (baseline.index >= "2017-04-26") & (baseline.index < "2017-05-16")
    assert outage.sum() > 400 and (scores.loc[outage, "operating_state"] == "off").all()


def test_motor_episodes_close_when_the_evidence_falls_back(reference_dir):
    report = score_after(read_export(reference_dir / "MOTOR_TRAINING_DATA.csv"),
                         read_export(reference_dir / "MOTOR_TEST_DATA.csv"), EnsembleConfig())
    assert report["episodes"] >= 1  # the shaft vibrations do move away in the second half of the test year
    assert not [e for e in report["episode_list"] if e["hours"] > 72 and e["alert_share"] < 0.2]


def test_fd_fan_stopped_periods_and_out_of_range_readings(reference_dir):
    baseline, batch = (read_export(reference_dir / f) for f in ("FD_FAN_BASELINE_DATA.csv", "FD_FAN_BATCH_DATA.csv"))
    scores = DetectorEnsemble().fit(baseline).score(batch)
    stopped = scores["operating_state"] == "off"
    assert stopped.mean() > 0.2  # the fan is stopped about a quarter of the batch
    assert not scores.loc[stopped, "alarm"].any()
    assert scores.loc[stopped, "fused_z"].isna().all()


def test_gas_turbine_idle_baseline_trains_on_its_running_hours(reference_dir):
    baseline, batch = (read_export(reference_dir / f) for f in ("GAS_TURBINE_BASELINE_DATA.csv",
                                                                 "GAS_TURBINE_BATCH_DATA.csv"))
    ensemble = DetectorEnsemble().fit(baseline)
    regime = ensemble.models["regime_model"]
    assert regime.load_tag == "DWATT"
    assert regime.params["off_rows"] > 0.5 * len(baseline)  # idle most of the baseline
    scores = ensemble.score(batch)
    running = scores["operating_state"] == "running"
    assert running.mean() > 0.4 and scores.loc[running, "fused_z"].notna().all()
