"""Bad input gets a clear error naming what is wrong, or a documented, reported handling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acm_assets.detectors import DetectorEnsemble, DetectorFitError, DetectorInputError, EnsembleConfig, ModelType


def test_too_few_baseline_rows(fan_baseline):
    with pytest.raises(DetectorFitError, match="min_baseline_rows"):
        DetectorEnsemble().fit(fan_baseline.iloc[:50])


def test_all_missing_and_constant_tags_are_dropped_and_reported(fan_baseline, fan_batch):
    baseline = fan_baseline.assign(DEAD=np.nan, FLAT=7.0)
    ensemble = DetectorEnsemble().fit(baseline)
    regime = ensemble.models[ModelType.regime_model]
    assert regime.dropped_tags == {"DEAD": "all missing", "FLAT": "constant"}
    assert regime.params["dropped_tags"] == {"DEAD": "all missing", "FLAT": "constant"}
    assert "DEAD" not in regime.tags
    scores = ensemble.score(fan_batch.assign(DEAD=1.0, FLAT=7.0))
    assert scores.attrs["ignored_tags"] == ["DEAD", "FLAT"]


def test_non_numeric_columns_are_named(fan_baseline):
    with pytest.raises(DetectorInputError, match=r"non-numeric tags \['status'\]"):
        DetectorEnsemble().fit(fan_baseline.assign(status="ok"))


def test_scoring_frame_missing_a_trained_tag_is_named(fan_ensemble, fan_batch):
    tag = fan_batch.columns[3]
    with pytest.raises(DetectorInputError, match=tag):
        fan_ensemble.score(fan_batch.drop(columns=[tag]))


def test_nan_flood_is_imputed_from_baseline_medians_and_counted(fan_ensemble, fan_batch):
    flooded = fan_batch.copy()
    tag = flooded.columns[5]
    flooded.iloc[100:400, 5] = np.nan
    flooded.iloc[600:610, :] = np.nan
    scores = fan_ensemble.score(flooded)
    assert scores["fused_z"].notna().sum() > 0
    assert (scores["imputed_tags"].iloc[100:400] >= 1).all()
    assert (scores["imputed_tags"].iloc[600:610] == flooded.shape[1]).all()
    assert np.isfinite(scores.loc[scores["operating_state"] == "running", "fused_z"]).all()
    assert tag in fan_batch.columns


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda f: f.iloc[::-1], "not sorted"),
        (lambda f: pd.concat([f.iloc[:10], f.iloc[5:20]]), "duplicate timestamp"),
        (lambda f: f.tz_localize(None), "timezone-naive"),
        (lambda f: f.reset_index(drop=True), "DatetimeIndex"),
    ],
)
def test_bad_indexes_are_refused(fan_ensemble, fan_batch, mangle, message):
    with pytest.raises(DetectorInputError, match=message):
        fan_ensemble.score(mangle(fan_batch))
    with pytest.raises(DetectorInputError, match=message):
        DetectorEnsemble(EnsembleConfig()).fit(mangle(fan_batch))


def test_a_batch_of_missing_readings_is_neither_frozen_nor_alarmed(fan_ensemble, fan_baseline):
    _, state = fan_ensemble.score_with_state(fan_baseline.iloc[:-300])
    missing = fan_baseline.iloc[-300:] * np.nan
    scores, _ = fan_ensemble.score_with_state(missing, state)
    assert (scores["imputed_tags"] == missing.shape[1]).all()
    assert not scores["alarm"].any()
    running = scores["operating_state"] == "running"
    assert (scores.loc[running, "fused_z"] < 3.0).all()
    assert (scores["gmm_z"].iloc[-100:] < 0.0).all()  # imputed readings are no evidence of a frozen sensor


def test_tag_names_are_data_not_syntax(fan_baseline, fan_batch):
    """PI AF paths hold `|` and `\\`; a name that looks like a feature suffix is still just a name."""
    names = {tag: name for tag, name in zip(fan_baseline.columns, [
        r"\\PIAF01\Plant\FD_FAN|Bearing Temperature", "Motor|pooled", "Outlet ’Pressure’|spread",
    ])}
    ensemble = DetectorEnsemble().fit(fan_baseline.rename(columns=names))
    scores = ensemble.score(fan_batch.rename(columns=names))
    assert set(names.values()) <= set(ensemble.models[ModelType.regime_model].tags)
    assert all(f"contrib__{name}" in scores.columns for name in names.values())
    assert scores["fused_z"].notna().any()
