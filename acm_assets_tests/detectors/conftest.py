"""Small simulated equipment shared by the detector tests (fitted once per session to keep the suite fast)."""

from __future__ import annotations

import pandas as pd
import pytest

from acm_assets.detectors import DetectorEnsemble, EnsembleConfig
from acm_assets.simulation.simulator import simulate

SPLIT = pd.Timestamp("2024-01-22", tz="UTC")


@pytest.fixture(scope="session")
def fan_sim():
    """28 days of FD_FAN at 10 min: 3 weeks of healthy baseline, then a week with every fault type."""
    return simulate("FD_FAN", days=28, seed=3, faults="default", faults_after=SPLIT)


@pytest.fixture(scope="session")
def fan_baseline(fan_sim) -> pd.DataFrame:
    return fan_sim.frame[fan_sim.frame.index < SPLIT]


@pytest.fixture(scope="session")
def fan_batch(fan_sim) -> pd.DataFrame:
    return fan_sim.frame[fan_sim.frame.index >= SPLIT]


@pytest.fixture(scope="session")
def fan_ensemble(fan_baseline) -> DetectorEnsemble:
    return DetectorEnsemble(EnsembleConfig()).fit(fan_baseline)


@pytest.fixture(scope="session")
def fan_scores(fan_ensemble, fan_batch) -> pd.DataFrame:
    return fan_ensemble.score(fan_batch)
