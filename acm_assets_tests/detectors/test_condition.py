"""The baseline's condition: empty edges trimmed before the missing-share rule, drops that name the rows, and
noise scales no finer than what a tag can resolve."""

from __future__ import annotations

import numpy as np
import pytest

from acm_assets.detectors import DetectorEnsemble, DetectorFitError, EnsembleConfig, ModelType, fit_model
from acm_assets.detectors.condition import LEVEL_FLOOR, condition_baseline
from acm_assets.detectors.frames import checked_index


def test_a_baseline_whose_first_rows_are_empty_on_every_tag_is_trimmed_not_refused(fan_baseline):
    """The first ten percent of the rows hold no reading at all (a historian that started late)."""
    baseline = fan_baseline.copy()
    lead = len(baseline) // 10
    baseline.iloc[:lead] = np.nan
    regime = fit_model(ModelType.regime_model, baseline, EnsembleConfig())
    assert regime.dropped_tags == {}
    assert regime.params["trimmed_rows"]["leading"] == {"rows": lead, "before": baseline.index[lead].isoformat()}
    assert DetectorEnsemble().fit(baseline).score(baseline.iloc[lead:])["fused_z"].notna().any()


def test_a_tag_that_starts_late_is_judged_on_its_own_span(fan_baseline):
    """40 % of its rows missing at the start, none after: before, the missing share dropped it."""
    tag = fan_baseline.columns[2]
    baseline = fan_baseline.copy()
    baseline.iloc[: int(0.4 * len(baseline)), 2] = np.nan
    condition = condition_baseline(checked_index(baseline, "baseline"), EnsembleConfig())
    assert tag in condition.tags
    assert condition.trimmed["leading"]["rows"] == int(0.4 * len(baseline))


def test_a_tag_with_too_little_left_is_dropped_naming_its_rows(fan_baseline):
    baseline = fan_baseline.copy()
    late, holey = fan_baseline.columns[2], fan_baseline.columns[3]
    start = int(0.7 * len(baseline))
    baseline.iloc[:start, 2] = np.nan
    baseline.iloc[::3, 3] = np.nan
    baseline.iloc[1::3, 3] = np.nan
    condition = condition_baseline(checked_index(baseline, "baseline"), EnsembleConfig())
    assert condition.dropped[late] == (
        f"readings only from {baseline.index[start].isoformat()} to {baseline.index[-1].isoformat()} "
        f"({len(baseline) - start} of {len(baseline)} rows)"
    )
    assert condition.dropped[holey].startswith("67% missing between its first reading at ")
    assert late not in condition.tags and holey not in condition.tags


def test_fewer_than_two_tags_left_names_every_drop(fan_baseline):
    baseline = fan_baseline.iloc[:, :2].copy()
    baseline.iloc[:, 1] = 5.0
    with pytest.raises(DetectorFitError, match="fewer than two usable tags.*constant"):
        fit_model(ModelType.regime_model, baseline, EnsembleConfig())


def test_one_count_of_a_quantised_sensor_raises_no_alarm(fan_baseline):
    """A well temperature at 75 degC read to 0.001 degC sits on three counts through the baseline (spread
    0.0008): a move of 0.015 degC is 18 of those spreads, yet only 0.015 / (75 x LEVEL_FLOOR) of its noise floor."""
    rng = np.random.default_rng(0)
    tag = "WELL_TEMP"
    baseline = fan_baseline.assign(**{tag: 75.0 + 0.001 * rng.integers(-1, 2, len(fan_baseline))})
    ensemble = DetectorEnsemble().fit(baseline)
    regime = ensemble.models[ModelType.regime_model]
    j = regime.tags.index(tag)
    assert regime.condition.resolution[j] == pytest.approx(0.001)
    assert regime.noise_floor[j] == pytest.approx(75.0 * LEVEL_FLOOR)
    later = baseline.iloc[-1008:].copy()
    later[tag] += 0.015
    moved = ensemble.score(later)
    running = moved["operating_state"] == "running"
    assert not moved.loc[running, "alarm"].any()
    assert moved.loc[running, "fused_z"].median() < 1.5
