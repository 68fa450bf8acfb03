"""The public API the Dagster assets and outside evaluations call."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from acm_assets.detectors import (
    HEADS,
    MODEL_DEPENDENCIES,
    ArtifactMismatchError,
    DetectorEnsemble,
    DetectorInputError,
    ModelType,
    fit_model,
)
from acm_assets.detectors.artifacts import ARTIFACT_SCHEMA
from acm_assets.detectors.episodes import FAULT_LEAD, inside_episodes, left_out_of_retraining


def test_models_are_the_eight_named_types_with_manifest_fields(fan_ensemble):
    models = fan_ensemble.models
    assert set(models) == set(ModelType)
    assert {t.value for t in models} == {
        "feature_medians", "ar1_params", "pca_model", "iforest_model",
        "gmm_model", "mhal_params", "omr_model", "regime_model",
    }
    for model_type, artifact in models.items():
        assert len(model_type.value) <= 16
        assert artifact.train_rows > 0
        assert artifact.train_sensors == list(artifact.tags)
        json.dumps({"params": artifact.params, "rows": artifact.train_rows, "sensors": artifact.train_sensors})
        assert artifact.schema_stamp.endswith(f"{model_type.value}/v{ARTIFACT_SCHEMA}")


def test_scores_have_the_contract_columns_and_index(fan_scores, fan_batch):
    assert fan_scores.index.equals(fan_batch.index)
    for column in [f"{h}_z" for h in HEADS] + ["fused_z", "health", "regime", "alarm", "episode_id"]:
        assert column in fan_scores.columns
    assert fan_scores["alarm"].dtype == bool
    assert (fan_scores["alarm"] == fan_scores["episode_id"].notna()).all()
    running = fan_scores["operating_state"] == "running"
    assert fan_scores.loc[running, "fused_z"].notna().all()
    off = fan_scores["operating_state"] == "off"
    assert fan_scores.loc[off, "fused_z"].isna().all()
    assert not fan_scores.loc[~running, "alarm"].any()


def test_health_and_severity_follow_one_threshold_table(fan_scores):
    scored = fan_scores[fan_scores["operating_state"] == "running"]
    z, h, sev, novel = scored["fused_z"], scored["health"], scored["severity"], scored["novel"]
    assert ((sev == "GOOD") == ((z < 1.5) & ~novel)).all()
    assert ((sev == "ALERT") == (z >= 3.0)).all()
    assert ((sev == "NOVEL") == ((z < 3.0) & novel)).all()
    assert ((sev == "GOOD") == ((h > 70) & ~novel)).all()
    assert ((sev == "ALERT") == (h <= 40)).all()
    order = np.argsort(z.to_numpy())
    assert (np.diff(h.to_numpy()[order]) <= 0).all()
    assert h.between(0, 100).all()


def test_start_ups_and_stops_are_scored_but_never_rated(fan_ensemble, fan_baseline):
    """A start-up's fused z of 20 is the start-up: it is shaded in the plot, not an ALERT or a health of 0."""
    scores = fan_ensemble.score(fan_baseline)
    moving = scores[scores["operating_state"] == "transition"]
    assert len(moving) and moving["fused_z"].notna().all() and (moving["fused_z"] >= 3.0).any()
    assert (moving["severity"] == "TRANSITION").all() and moving["health"].isna().all()
    assert not moving["alarm"].any()


def test_episodes_table(fan_ensemble, fan_scores):
    episodes = fan_ensemble.episodes(fan_scores)
    assert len(episodes) >= 1
    for column in ["episode_id", "start", "end", "open", "peak_z", "mean_z", "duration", "regime", "culprits"]:
        assert column in episodes.columns
    assert all(f"share_{h}" in episodes.columns for h in HEADS)
    shares = episodes[[f"share_{h}" for h in HEADS]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    assert (episodes["end"] >= episodes["start"]).all()
    assert (episodes["peak_z"] >= 3.0).all()
    assert episodes["culprits"].map(lambda c: 1 <= len(c) <= 3).all()
    for row in episodes.itertuples():
        inside = fan_scores[fan_scores["episode_id"] == row.episode_id]
        assert inside.index[0] == row.start and inside.index[-1] == row.end
        assert row.peak_z == pytest.approx(inside["fused_z"].max())
        assert row.mean_z == pytest.approx(inside["fused_z"].mean())


def test_fit_model_fits_one_artifact_from_its_upstream(fan_ensemble, fan_baseline):
    config = fan_ensemble.config
    models = fan_ensemble.models
    for model_type, deps in MODEL_DEPENDENCIES.items():
        alone = fit_model(model_type, fan_baseline, config, {d: models[d] for d in deps})
        assert alone.fingerprint == models[model_type].fingerprint
    with pytest.raises(DetectorInputError, match="regime_model"):
        fit_model(ModelType.pca_model, fan_baseline, config, {})
    with pytest.raises(DetectorInputError, match="unknown model type"):
        fit_model("tree_model", fan_baseline, config, {})


def test_from_models_scores_identically(fan_ensemble, fan_batch, fan_scores):
    rebuilt = DetectorEnsemble.from_models(fan_ensemble.models, fan_ensemble.config)
    pd.testing.assert_frame_equal(rebuilt.score(fan_batch), fan_scores, check_exact=True)


def test_from_models_refuses_incomplete_or_foreign_sets(fan_ensemble, fan_baseline):
    models = fan_ensemble.models
    del models[ModelType.gmm_model]
    with pytest.raises(ArtifactMismatchError, match="gmm_model"):
        DetectorEnsemble.from_models(models, fan_ensemble.config)
    other_regime = fit_model(ModelType.regime_model, fan_baseline.iloc[500:], fan_ensemble.config)
    mixed = {**fan_ensemble.models, ModelType.regime_model: other_regime}
    with pytest.raises(ArtifactMismatchError, match="re-fit"):
        DetectorEnsemble.from_models(mixed, fan_ensemble.config)


def test_heads_refitted_on_another_baseline_are_named(fan_ensemble, fan_sim):
    config = fan_ensemble.config
    models = fan_ensemble.models
    later = fan_sim.frame.iloc[:1500]  # a different (shorter) baseline under the same regime model
    deps = {d: models[d] for d in MODEL_DEPENDENCIES[ModelType.pca_model]}
    models[ModelType.pca_model] = fit_model(ModelType.pca_model, later, config, deps)
    with pytest.raises(ArtifactMismatchError, match="pca_model"):
        DetectorEnsemble.from_models(models, config)


def test_unfitted_ensemble_says_so(fan_batch):
    with pytest.raises(DetectorInputError, match="not fitted"):
        DetectorEnsemble().score(fan_batch)


def test_inside_episodes_marks_exactly_the_alarmed_points(fan_ensemble, fan_scores):
    episodes = fan_ensemble.episodes(fan_scores)
    assert len(episodes) >= 3
    inside = inside_episodes(fan_scores.index, episodes)
    np.testing.assert_array_equal(inside, fan_scores["alarm"].to_numpy(dtype=bool))
    assert not inside_episodes(fan_scores.index, episodes.iloc[:0]).any()


def test_a_retrain_leaves_out_each_episode_and_the_day_before_it(fan_ensemble, fan_scores):
    episodes = fan_ensemble.episodes(fan_scores).iloc[:1]
    index = fan_scores.index
    left_out = left_out_of_retraining(index, episodes)
    start, end = episodes["start"].iloc[0], episodes["end"].iloc[0]
    np.testing.assert_array_equal(left_out, (index >= start - FAULT_LEAD) & (index <= end))
    assert left_out.sum() > inside_episodes(index, episodes).sum()


def test_spans_judged_normal_are_learned_from_even_beyond_the_contamination_trim(fan_baseline):
    """A day when one tag ran ten robust deviations off: trimmed as contamination, unless judged normal."""
    baseline = fan_baseline.copy()
    tag = "FD1.06GP34_OUTLET_PRESS"
    day = (baseline.index >= "2024-01-10") & (baseline.index < "2024-01-11")
    baseline.loc[day, tag] += 10.0 * baseline[tag].std()
    span = (pd.Timestamp("2024-01-10", tz="UTC"), pd.Timestamp("2024-01-10 23:59", tz="UTC"))
    plain = DetectorEnsemble().fit(baseline).models[ModelType.omr_model].params
    judged = DetectorEnsemble().fit(baseline, normal_spans=[span]).models[ModelType.omr_model].params
    assert plain["contamination_trim"]["contamination"] >= 30 and plain["contamination_trim"]["kept_as_normal"] == 0
    assert judged["contamination_trim"]["kept_as_normal"] == plain["contamination_trim"]["contamination"] - (
        judged["contamination_trim"]["contamination"])
    assert judged["normal_spans"] == [[span[0].isoformat(), span[1].isoformat()]]
    with pytest.raises(DetectorInputError, match="ends before it starts"):
        DetectorEnsemble().fit(baseline, normal_spans=[(span[1], span[0])])
    with pytest.raises(DetectorInputError, match="not a \\(start, end\\) pair"):
        DetectorEnsemble().fit(baseline, normal_spans=[("yesterday", 5)])
