"""Redundant tags are grouped, never a reason to refuse a fit; culprits still name the tag that moved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acm_assets.detectors import DetectorEnsemble, DetectorFitError, EnsembleConfig, ModelType
from acm_assets.detectors.redundancy import independent_tags, redundant_groups

DAMPER, BEARING = "FD1.06G31_DAMPER_POS", "FD1.06T32_BEARING_TEMP"


def test_groups_are_led_by_the_tag_closest_to_the_most_others():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 500))
    values = np.column_stack([a, b, a + 0.01 * rng.normal(size=500), 2 * a, b + 0.5 * rng.normal(size=500)])
    groups = redundant_groups(values, ["A", "B", "A2", "A3", "B_noisy"])
    assert groups == [("A", "A2", "A3")]
    assert independent_tags(["A", "B", "A2", "A3", "B_noisy"], groups) == ("A", "B", "B_noisy")


def _with_second_transmitter(frame: pd.DataFrame) -> pd.DataFrame:
    """The bearing temperature recorded twice, by a second transmitter in other units (degF)."""
    return frame.assign(BEARING_F=frame[BEARING] * 1.8 + 32.0)


@pytest.fixture(scope="module")
def doubled(fan_baseline):
    """Fitted on the first two weeks of the healthy baseline; the third week is scored in the tests."""
    return DetectorEnsemble(EnsembleConfig()).fit(_with_second_transmitter(fan_baseline.iloc[:2016]))


def test_a_duplicated_tag_is_grouped_and_the_fit_succeeds(doubled):
    regime = doubled.models[ModelType.regime_model]
    group = next(g for g in regime.redundant if BEARING in g)
    assert set(group) == {BEARING, "BEARING_F"}
    assert regime.params["redundant_tags"] == {g[0]: list(g[1:]) for g in regime.redundant}
    mhal = doubled.models[ModelType.mhal_params]
    assert len({BEARING, "BEARING_F"} & {tag for _, tag in mhal.columns}) == 1
    assert mhal.params["shrunk_condition_number"] <= EnsembleConfig().mhal_max_condition


def test_culprits_name_the_member_of_a_group_that_moved(doubled, fan_baseline):
    history, week = fan_baseline.iloc[:2016], _with_second_transmitter(fan_baseline.iloc[2016:])
    drifted = week.index[week[DAMPER] > 20][:72]
    week.loc[drifted, "BEARING_F"] += 6.0  # the second transmitter reads 6 degF high
    _, state = doubled.score_with_state(_with_second_transmitter(history))
    scores, _ = doubled.score_with_state(week, state)
    episodes = doubled.episodes(scores)
    during = episodes[(episodes["start"] <= drifted[-1]) & (episodes["end"] >= drifted[0])]
    assert len(during) >= 1
    assert all(culprits[0] == "BEARING_F" for culprits in during["culprits"])


def test_a_combination_of_tags_is_regularised_not_refused(fan_baseline):
    config = EnsembleConfig()
    tags = list(fan_baseline.columns)
    combined = fan_baseline.assign(SUM=fan_baseline[tags[3]] + fan_baseline[tags[5]] + fan_baseline[tags[6]])
    ensemble = DetectorEnsemble(config).fit(combined)
    mhal = ensemble.models[ModelType.mhal_params]
    assert ("value", "SUM") in mhal.columns
    assert mhal.params["shrunk_condition_number"] <= config.mhal_max_condition * (1 + 1e-6)


def test_fewer_than_two_independent_tags_fail_naming_them(fan_baseline):
    pair = pd.DataFrame({BEARING: fan_baseline[BEARING], "BEARING_F": fan_baseline[BEARING] * 1.8 + 32.0})
    with pytest.raises(DetectorFitError, match=f"fewer than two independent tags; {BEARING} ~ BEARING_F"):
        DetectorEnsemble(EnsembleConfig(detect_off=False)).fit(pair)
