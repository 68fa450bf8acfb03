"""Baseline medians, per operating regime, used for every imputation (never statistics of the scored frame)."""

from __future__ import annotations

import numpy as np

from acm_assets.detectors.artifacts import Artifact, ModelType
from acm_assets.detectors.features import ffill_within


class FeatureMedians(Artifact):
    """A missing value is forward-filled from the same tag if that reading is at most `ffill_limit` old,
    else replaced by the baseline median of the row's regime (pooled running median for small regimes,
    the OFF median for OFF rows)."""

    model_type = ModelType.feature_medians

    def __init__(self, *, medians, off_medians, ffill_ns, **base):
        super().__init__(**base)
        self.medians = medians  # (regimes + 1, tags), same row layout as the regime scaler
        self.off_medians = off_medians
        self.ffill_ns = int(ffill_ns)

    def impute(self, values: np.ndarray, times: np.ndarray, scaler_row: np.ndarray, off: np.ndarray):
        """Imputed values and, per row, how many tags needed imputing."""
        filled = ffill_within(values, times, self.ffill_ns)
        fallback = np.where(off[:, None], self.off_medians, self.medians[scaler_row])
        return np.where(np.isnan(filled), fallback, filled), np.isnan(values).sum(axis=1)


def fit_feature_medians(raw, times, regime_model, state_off, scaler_row, *, fingerprint, upstream) -> FeatureMedians:
    pooled = np.nanmedian(raw[~state_off], axis=0)
    rows = []
    for r in range(regime_model.n_regimes):
        part = raw[(scaler_row == r) & ~state_off]
        median = np.nanmedian(part, axis=0) if len(part) else pooled
        rows.append(np.where(np.isnan(median), pooled, median))
    rows.append(pooled)
    off_medians = np.nanmedian(raw[state_off], axis=0) if state_off.any() else pooled
    off_medians = np.where(np.isnan(off_medians), pooled, off_medians)
    medians = np.array(rows)
    return FeatureMedians(
        medians=medians, off_medians=off_medians, ffill_ns=regime_model.ffill_ns, tags=regime_model.tags,
        fingerprint=fingerprint, upstream=upstream, train_rows=int((~state_off).sum()),
        params={
            "ffill_limit_s": regime_model.ffill_ns / 1e9,
            "running_median": dict(zip(regime_model.tags, np.round(medians[-1], 6).tolist())),
        },
    )
