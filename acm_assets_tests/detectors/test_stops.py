"""Stops proven by the data: a tag's low mode counts only when the machine's other signs of stopping come
with it; a zero mode the process runs through is an operating mode."""

from __future__ import annotations

import numpy as np

from acm_assets.detectors import DetectorEnsemble, EnsembleConfig, ModelType, fit_model
from acm_assets.simulation.simulator import healthy_run

CURRENT = "FD1.06I03_MOTOR_CURRENT"


def _gas_lift(frame, seed=0):
    """A flow that is zero in long stretches (a third of the rows) while everything else keeps running."""
    rng = np.random.default_rng(seed)
    blocks = np.repeat(rng.random(len(frame) // 48 + 1) < 0.36, 48)[: len(frame)]
    return np.where(blocks, 0.0, 50.0 + rng.normal(0.0, 1.0, len(frame)))


def test_the_fans_stops_come_with_its_flows_and_damper(fan_baseline):
    regime = fit_model(ModelType.regime_model, fan_baseline, EnsembleConfig())
    detection = regime.params["stop_detection"]
    assert detection["method"] == "data" and regime.params["off_rows"] > 0
    [evidence] = [e for e in detection["groups"].values() if e["stop"]]
    assert evidence["independent_signs"] >= evidence["needed"] >= 2
    assert CURRENT in regime.off_tags and regime.load_tag == CURRENT


def test_a_flow_at_zero_while_the_process_runs_is_an_operating_mode_not_a_stop(fan_baseline):
    baseline = fan_baseline.assign(GASLIFT_QGL=_gas_lift(fan_baseline))
    plain = fit_model(ModelType.regime_model, fan_baseline, EnsembleConfig())
    regime = fit_model(ModelType.regime_model, baseline, EnsembleConfig())
    assert "GASLIFT_QGL" not in regime.off_tags and "GASLIFT_QGL" in regime.operating_tags
    assert regime.params["off_rows"] == plain.params["off_rows"]
    group = regime.params["stop_detection"]["groups"]["GASLIFT_QGL"]
    assert group == {**group, "independent_signs": 0, "stop": False}


def test_a_rig_that_never_stops_has_no_off_rows():
    """A 400-second baseline of a rig whose current wanders near zero and whose valve flow has a zero mode: the
    current named like a load is no stop signal when nothing falls with it, and every row is running."""
    rig = healthy_run("PUMP_RIG", 400, seed=1).frame
    rng = np.random.default_rng(1)
    rig = rig.assign(Current=np.abs(rng.normal(0.3, 0.5, len(rig))), BYPASS_FLOW=_gas_lift(rig, seed=1))
    regime = fit_model(ModelType.regime_model, rig, EnsembleConfig())
    assert regime.off_tags == () and regime.params["off_rows"] == 0 and regime.params["settling_rows"] == 0
    assert regime.params["stop_detection"]["method"].startswith("none: Current is below")
    scores = DetectorEnsemble().fit(rig).score(rig)
    assert (scores["operating_state"] == "running").all()


def test_one_stop_tag_reading_zero_while_the_others_run_is_scored_not_off(fan_ensemble, fan_batch):
    """A current transmitter failing to zero is a fault to report, not a stopped machine to skip."""
    running = fan_ensemble.score(fan_batch)["operating_state"] == "running"
    failed = fan_batch.copy()
    day = running[running].index[:144]
    failed.loc[day, CURRENT] = 0.0
    scores = fan_ensemble.score(failed)
    assert (scores.loc[day, "operating_state"] != "off").all()
    assert scores.loc[day, "alarm"].mean() > 0.5
