"""Quality bars on the simulator's labelled faults (one seed per equipment type here; the benchmark runs more)."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_assets.bench.quality import evaluate_simulation, summarize
from acm_assets.simulation.simulator import EQUIPMENT_TYPES


@pytest.fixture(scope="module")
def runs():
    return [evaluate_simulation(equipment_type, 0) for equipment_type in EQUIPMENT_TYPES]


@pytest.fixture(scope="module")
def summary(runs):
    return summarize(runs)


def test_faults_are_detected(summary):
    assert summary["detected_overall"] >= 0.85
    for fault_type, share in summary["detected_per_type"].items():
        assert share >= 0.75, fault_type


def test_steps_are_detected_fast_and_drifts_early(summary):
    assert summary["step_median_delay_samples"] <= 3
    assert summary["drift_level_at_detection_sigma"]["max"] < 4.0


def test_single_tag_faults_name_their_tag_among_the_culprits(summary):
    assert summary["single_tag_culprit_top3"] >= 0.9


def test_fault_free_spans_with_off_periods_stay_quiet(runs):
    """Guard rails on one seed (at most 3 false episodes in 40 days of spring after a winter baseline); the
    issue's bars (1 episode / 30 days, 0.5 % of points) are measured on five seeds by
    `python -m acm_assets.bench quality` and reported there."""
    for run in runs:
        false = run["false_alarms"]
        assert false["states"].get("off", 0) > 0 and false["states"].get("startup", 0) > 0
        assert false["false_episodes"] <= 3, run["equipment_type"]
        assert false["point_alarm_rate"] <= 0.015, run["equipment_type"]


def test_matched_faults_table_is_complete(runs):
    faults = pd.concat([r["faults"] for r in runs])
    assert len(faults) == 7 * len(EQUIPMENT_TYPES)
    assert set(faults["type"]) == {"step", "drift", "spikes", "stuck", "variance", "correlation_break", "bearing_degradation"}
