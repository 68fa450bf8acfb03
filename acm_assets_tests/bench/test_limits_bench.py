"""The time-to-limit benchmark on one simulated degradation: printed as JSON, estimates at the three checkpoints
against the actual crossing, summarised per checkpoint."""

from __future__ import annotations

import json

import pytest

from acm_assets.bench.__main__ import main


def test_one_degradation_is_estimated_at_opening_a_quarter_and_halfway_to_its_crossing(capsys):
    assert main(["limits", "--types", "GAS_TURBINE", "--faults", "drift", "--seeds", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    [case] = report["cases"]
    assert case["outcome"] == "estimated" and case["culprit_named"]
    assert 0 < case["opened_after_start_h"] < case["crossing_after_start_h"] <= case["window_h"]
    checkpoints = case["estimates"]
    truths = [checkpoints[name]["true_h"] for name in ("at_opening", "quarter_way", "halfway")]
    elapsed = case["crossing_after_start_h"] - case["opened_after_start_h"]
    assert truths == pytest.approx([elapsed, 0.75 * elapsed, 0.5 * elapsed], abs=1 / 6)  # snapped to a reading
    halfway = checkpoints["halfway"]
    assert halfway["low_h"] <= halfway["estimate_h"] <= halfway["high_h"]
    summary = report["summary"]["halfway"]
    error = abs(halfway["estimate_h"] - halfway["true_h"]) / halfway["true_h"]
    assert summary["made"] == summary["with_a_number"] == 1
    assert summary["median_abs_error_share"] == pytest.approx(error, abs=1e-3)
    assert summary["raw_readings"]["made"] == 1 and "estimate_h" in halfway["raw_readings"]  # the comparison


def test_an_unknown_fault_is_named():
    with pytest.raises(SystemExit, match=r"unknown faults \['spikes'\]"):
        main(["limits", "--faults", "spikes"])
