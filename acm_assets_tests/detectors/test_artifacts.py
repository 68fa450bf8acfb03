"""Every artifact reloads from bytes and scores bit-identically; together they stay small."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pandas as pd
import pytest

from acm_assets.detectors import DetectorEnsemble, ModelType
from acm_assets.detectors.heads import Head

MAX_TOTAL_BYTES = 500_000


def _roundtrip(artifact):
    buffer = io.BytesIO()
    joblib.dump(artifact, buffer)
    return joblib.load(io.BytesIO(buffer.getvalue())), len(buffer.getvalue())


@pytest.mark.parametrize("model_type", list(ModelType))
def test_each_artifact_reloads_bit_identically(fan_ensemble, fan_batch, fan_scores, model_type):
    models = fan_ensemble.models
    reloaded, _ = _roundtrip(models[model_type])
    assert type(reloaded) is type(models[model_type])
    assert reloaded.fingerprint == models[model_type].fingerprint
    assert reloaded.schema_stamp == models[model_type].schema_stamp
    if isinstance(reloaded, Head):
        for head, z in models[model_type].oof_z.items():
            assert np.array_equal(reloaded.oof_z[head], z)
    models[model_type] = reloaded
    rebuilt = DetectorEnsemble.from_models(models, fan_ensemble.config)
    pd.testing.assert_frame_equal(rebuilt.score(fan_batch), fan_scores, check_exact=True)


def test_artifacts_are_small_and_self_contained(fan_ensemble):
    total = 0
    for model_type, artifact in fan_ensemble.models.items():
        _, size = _roundtrip(artifact)
        total += size
        if isinstance(artifact, Head):
            assert artifact.columns and artifact.calibrators and len(artifact.oof_times) > 0
            assert artifact.scaler["fingerprint"] == fan_ensemble.models[ModelType.regime_model].fingerprint
    assert total <= MAX_TOTAL_BYTES
