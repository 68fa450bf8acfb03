"""Heads earn their weight out of fold: no planted head, noisy, garbage or over-fitted, can carry the fused score
on healthy data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acm_assets.detectors import DetectorEnsemble
from acm_assets.detectors.heads import OMRHead
from acm_assets.simulation.simulator import simulate

SPLIT = pd.Timestamp("2024-01-22", tz="UTC")


@pytest.fixture(scope="module")
def healthy():
    """FD_FAN, four weeks without faults: three to learn from, the fourth a healthy run the models never saw."""
    frame = simulate("FD_FAN", days=28, seed=3, faults=None).frame
    return frame[frame.index < SPLIT], frame[frame.index >= SPLIT]


@pytest.fixture(scope="module")
def reference(healthy):
    """The healthy run's alert and alarm shares with the heads as they are."""
    baseline, later = healthy
    return _healthy_rates(DetectorEnsemble().fit(baseline), later)


def _seed(x: np.ndarray) -> int:
    return int(np.abs(np.nan_to_num(x)).sum() * 1e3) % (2**32)


def _noise(self, x):
    return {"omr": np.random.default_rng(_seed(x)).normal(size=(len(x), len(self.tags)))}


def _garbage(self, x):
    return {"omr": 50.0 * np.random.default_rng(_seed(x)).standard_cauchy(size=(len(x), len(self.tags)))}


def _fit_memory(self, x):
    self.memory_ = x.copy()


def _memoriser(self, x):
    """Zero on the rows it learned from, far from zero on any other: the over-fitted head in its purest form."""
    distance = np.array([np.abs(self.memory_ - row).sum(axis=1).min() for row in x])
    return {"omr": np.repeat(1e3 * distance[:, None], len(self.tags), axis=1)}


def _healthy_rates(ensemble, later):
    scores = ensemble.score(later)
    running = scores["operating_state"] == "running"
    return float((scores.loc[running, "fused_z"] >= 3.0).mean()), float(scores.loc[running, "alarm"].mean())


@pytest.mark.parametrize("plant", ["noise", "garbage", "memoriser"])
def test_a_planted_head_cannot_carry_the_fused_score(healthy, reference, monkeypatch, plant):
    baseline, later = healthy
    monkeypatch.setattr(OMRHead, "parts", {"noise": _noise, "garbage": _garbage, "memoriser": _memoriser}[plant])
    if plant == "memoriser":
        monkeypatch.setattr(OMRHead, "fit_parameters", _fit_memory)
    ensemble = DetectorEnsemble().fit(baseline)
    alert, alarm = _healthy_rates(ensemble, later)
    assert alert <= max(3 * ensemble.config.false_alarm_rate, reference[0] + 0.005)
    assert alarm <= reference[1] + 0.01
    report = ensemble.fusion_report_
    if plant == "memoriser":
        assert report["switched_off"]["omr"].startswith("reliability") and report["weights"]["omr"] == 0.0
    else:
        assert "omr" not in report["switched_off"]


def test_weights_record_reliability_and_redundancy(fan_ensemble):
    report = fan_ensemble.fusion_report_
    assert set(report["weights"]) == set(report["reliability"])
    assert all(0.0 < r <= 1.0 for r in report["reliability"].values())
    assert all(w <= r for w, r in zip(report["weights"].values(), report["reliability"].values()))
