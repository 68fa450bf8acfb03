"""The small base every head stands on: fitted on the baseline's rows, cross-fitted on time blocks, calibrated
on what its fold models said about rows they never saw, and scoring with plain numpy from stored arrays (no
pickled scikit-learn estimators), so a reload scores bit-identically.

A head turns feature rows into `parts` (the per-row intermediates its fold models can pool: raw scores, or
per-tag residuals), and `parts` into one raw score per head name. The cross-fitting (`crossfit.py`) gives the
final head the out-of-fold parts of the whole baseline before its calibrators are fitted on them."""

from __future__ import annotations

import copy

import numpy as np

from acm_assets.detectors.artifacts import Artifact
from acm_assets.detectors.calibration import Calibrator

SPREAD_FLOOR = 1e-6


class Head(Artifact):
    """Input columns ((kind, tag) features), the regime scaler it was trained under, fill values, calibrators,
    the calibrated out-of-fold z (float32) with their timestamps (from which the fusion is calibrated) and
    what the cross-fitting measured (`params["cross_fitting"]`)."""

    heads: tuple[str, ...] = ()

    def __init__(self, *, columns, scaler, fill, **base):
        super().__init__(**base)
        self.columns = tuple(tuple(c) for c in columns)  # (kind, tag) feature pairs
        self.scaler = scaler  # {"centers": ..., "scales": ..., "fingerprint": regime_model fingerprint}
        self.fill = np.asarray(fill, dtype=np.float64)
        self.calibrators: dict[str, Calibrator] = {}
        self.oof_times = np.zeros(0, dtype=np.int64)
        self.oof_z: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- the estimator
    def fit(self, x: np.ndarray, config, context) -> Head:
        """Choose the structure for these rows (components, covariance) and fit the parameters."""
        raise NotImplementedError

    def refit(self, x: np.ndarray) -> Head:
        """A fold model: this head's structure, parameters fitted on `x` alone."""
        fold = copy.copy(self)
        fold.fit_parameters(x)
        return fold

    def fit_parameters(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def parts(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-row intermediates; by default the raw scores themselves."""
        raise NotImplementedError

    def raw_from(self, parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return parts

    def learn_out_of_fold(self, parts: dict[str, np.ndarray]) -> None:
        """Adopt what the fold models showed on unseen rows (per-tag residual scales, part calibrators)."""

    def contributions(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-head, per-tag non-negative contributions in standardised squared units (tags order)."""
        return {}

    # ---------------------------------------------------------------- scoring
    def inputs(self, matrix: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(matrix), self.fill, matrix)

    def raw(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.raw_from(self.parts(x))

    def z(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {head: self.calibrators[head](raw) for head, raw in self.raw(x).items()}


def out_of_fold_rms(tag_z: np.ndarray) -> np.ndarray:
    """Per-tag root mean square of out-of-fold standardised residuals (1 where a tag has none): how much wider
    a tag's residuals are on rows the model never saw than on the rows it learned from."""
    with np.errstate(invalid="ignore"):
        rms = np.sqrt(np.nanmean(tag_z * tag_z, axis=0)) if len(tag_z) else np.ones(tag_z.shape[1])
    return np.where(np.isfinite(rms) & (rms > SPREAD_FLOOR), rms, 1.0)
