"""Fitting one artifact at a time (one Dagster asset per model type): the baseline split, contamination
trimming, subsampling and held-out calibration shared by every head."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from acm_assets.detectors.artifacts import Artifact, ModelType, fingerprint
from acm_assets.detectors.config import EnsembleConfig
from acm_assets.detectors.errors import DetectorFitError, DetectorInputError
from acm_assets.detectors.frames import checked_index, numeric_tags
from acm_assets.detectors.heads import AR1Head, GMMHead, HeadArtifact, IForestHead, MahalanobisHead, OMRHead, PCAHead
from acm_assets.detectors.inputs import Carry, build_inputs, head_columns
from acm_assets.detectors.medians import fit_feature_medians
from acm_assets.detectors.operating import RUNNING, fit_regime_model

MODEL_DEPENDENCIES: dict[ModelType, tuple[ModelType, ...]] = {
    ModelType.regime_model: (),
    ModelType.feature_medians: (ModelType.regime_model,),
    **{
        t: (ModelType.regime_model, ModelType.feature_medians)
        for t in (
            ModelType.ar1_params,
            ModelType.pca_model,
            ModelType.iforest_model,
            ModelType.gmm_model,
            ModelType.mhal_params,
            ModelType.omr_model,
        )
    },
}
FIT_ORDER = tuple(MODEL_DEPENDENCIES)
MAX_MISSING_SHARE = 0.5
MIN_SETTLED_HOLDOUT = 50


def fit_model(model_type, baseline: pd.DataFrame, config: EnsembleConfig, upstream: dict | None = None) -> Artifact:
    """Fit one artifact on `baseline`; `upstream` holds the fitted artifacts MODEL_DEPENDENCIES names."""
    try:
        model_type = ModelType(model_type)
    except ValueError:
        raise DetectorInputError(f"unknown model type {model_type!r}; choose one of {[t.value for t in ModelType]}")
    if not isinstance(config, EnsembleConfig):
        raise DetectorInputError(f"config must be an EnsembleConfig, got {type(config).__name__}")
    upstream = {ModelType(k): v for k, v in (upstream or {}).items()}
    missing = [t.value for t in MODEL_DEPENDENCIES[model_type] if t not in upstream]
    if missing:
        raise DetectorInputError(f"{model_type.value}: needs the fitted upstream artifacts {missing}")
    frame = checked_index(baseline, "baseline")
    times = frame.index.asi8.copy()
    if model_type is ModelType.regime_model:
        tags, dropped = _usable_tags(frame, config)
        raw = frame[list(tags)].to_numpy(dtype=np.float64)
        if len(raw) < config.min_baseline_rows:
            raise DetectorFitError(f"baseline has {len(raw)} rows; min_baseline_rows is {config.min_baseline_rows}")
        fp = fingerprint(model_type.value, config.signature(), tags, times, raw)
        return fit_regime_model(raw, times, tags, config, fingerprint=fp, dropped_tags=dropped)

    regime = upstream[ModelType.regime_model]
    raw = numeric_tags(frame, regime.tags, "baseline").to_numpy()
    ups = {t.value: upstream[t].fingerprint for t in MODEL_DEPENDENCIES[model_type]}
    fp = fingerprint(model_type.value, config.signature(), regime.tags, times, raw, sorted(ups.items()))
    medians = upstream.get(ModelType.feature_medians)
    inputs, off, _, _ = build_inputs(
        raw, times, regime, medians,
        last_low_ns=None, carry=Carry.empty(len(regime.tags)),
    )
    if model_type is ModelType.feature_medians:
        rows = regime.scaler_rows(inputs.regime)
        return fit_feature_medians(raw, times, regime, off, rows, fingerprint=fp, upstream=ups)

    learnable = regime.states(raw, times, None, settle_ns=regime.min_settle_ns)[0] == RUNNING
    train, holdout, trimmed = split_baseline(inputs, learnable, config)
    columns = head_columns(model_type.value, regime.tags, regime.independent_tags)
    x_train = inputs.subset(train).matrix(columns)
    with warnings.catch_warnings():  # a feature never defined in training is filled with 0 (its neutral value)
        warnings.simplefilter("ignore", RuntimeWarning)
        fill = np.nan_to_num(np.nanmedian(x_train, axis=0))
    scaler = {"centers": regime.centers, "scales": regime.scales, "fingerprint": regime.fingerprint}
    settings = {
        "feature_window_s": regime.window_ns / 1e9,
        "ar_max_gap_s": regime.durations.ns("ar_max_gap") / 1e9,
        "trimmed_rows": int(trimmed),
        "train_rows": int(len(train)),
    }
    head = HEAD_CLASSES[model_type](
        columns=columns, scaler=scaler, fill=fill, tags=regime.tags, fingerprint=fp, upstream=ups,
        train_rows=len(train), params=settings,
    )
    if isinstance(head, (GMMHead, IForestHead)):
        # a window too short for a spread holds no evidence of one: filled, such rows would stack into a point
        # mass that a mixture component (or a forest's split) fits as if it were a normal state
        defined = ~np.isnan(x_train).any(axis=1)
        if 2 * defined.sum() >= len(x_train):
            x_train = x_train[defined]
    x_train = head.inputs(x_train)
    _fit_head(head, x_train, config, window_rows=regime.window_ns / max(regime.durations.cadence_ns, 1))
    head.calibrate(head.inputs(inputs.subset(holdout).matrix(columns)), inputs.times[holdout])
    return head


HEAD_CLASSES: dict[ModelType, type[HeadArtifact]] = {
    ModelType.ar1_params: AR1Head,
    ModelType.pca_model: PCAHead,
    ModelType.iforest_model: IForestHead,
    ModelType.gmm_model: GMMHead,
    ModelType.mhal_params: MahalanobisHead,
    ModelType.omr_model: OMRHead,
}


def _fit_head(head: HeadArtifact, x: np.ndarray, config: EnsembleConfig, *, window_rows: float) -> None:
    if isinstance(head, PCAHead):
        head.fit(x, config.pca_variance, config.seed)
    elif isinstance(head, MahalanobisHead):
        head.fit(x, config.mhal_max_condition)
    elif isinstance(head, OMRHead):
        head.fit(x, config.omr_alpha)
    elif isinstance(head, GMMHead):
        head.fit(x, config.gmm_max_components, config.seed, window_rows)
    elif isinstance(head, IForestHead):
        head.fit(x, config.iforest_trees, config.iforest_samples, config.seed)
    else:
        head.fit(x)


def split_baseline(inputs, learnable: np.ndarray, config: EnsembleConfig):
    """`learnable` rows (running past the configured start-up settle) minus obvious contamination (any tag beyond
    `trim_z` robust deviations), in time order: the last `holdout_fraction` is the calibration slice, of which
    only the rows that can alarm (running past the learned settle) calibrate. The heads thus learn how
    temperatures move together while they settle (the same direction as a hot afternoon), and the false-alarm
    budget is spent on the points that can raise episodes. Training rows are capped at `max_train_rows` (evenly
    spaced in time within each regime), calibration rows at `max_calibration_rows`. A held-out slice with fewer
    than MIN_SETTLED_HOLDOUT settled rows calibrates on all of its rows."""
    clean = learnable & (np.nanmax(np.abs(inputs.z), axis=1) <= config.trim_z)
    rows = np.flatnonzero(clean)
    if len(rows) < config.min_baseline_rows:
        raise DetectorFitError(
            f"baseline: {len(rows)} clean running rows after removing OFF/start-up rows and contamination "
            f"(> {config.trim_z} robust deviations); min_baseline_rows is {config.min_baseline_rows}"
        )
    cut = int(round(len(rows) * (1.0 - config.holdout_fraction)))
    train, holdout = rows[:cut], rows[cut:]
    settled = holdout[inputs.state[holdout] == RUNNING]
    holdout = settled if len(settled) >= MIN_SETTLED_HOLDOUT else holdout
    train = _stratified(train, inputs.regime[train], config.max_train_rows)
    if len(holdout) > config.max_calibration_rows:
        holdout = holdout[np.linspace(0, len(holdout) - 1, config.max_calibration_rows).astype(int)]
    return train, holdout, int(learnable.sum() - clean.sum())


def _stratified(rows: np.ndarray, regime: np.ndarray, cap: int) -> np.ndarray:
    if len(rows) <= cap:
        return rows
    picked = []
    for r in np.unique(regime):
        part = rows[regime == r]
        take = max(1, int(round(cap * len(part) / len(rows))))
        picked.append(part[np.linspace(0, len(part) - 1, min(take, len(part))).astype(int)])
    return np.sort(np.concatenate(picked))


def _usable_tags(frame: pd.DataFrame, config: EnsembleConfig):
    """Configured tags (or every column); all-missing, mostly-missing and constant tags are dropped and
    reported; non-numeric columns are refused by name."""
    tags = list(config.tags) if config.tags is not None else list(frame.columns)
    values = numeric_tags(frame, tags, "baseline")
    dropped = {}
    for tag in tags:
        column = values[tag]
        share = float(column.isna().mean()) if len(column) else 1.0
        if share == 1.0:
            dropped[tag] = "all missing"
        elif share > MAX_MISSING_SHARE:
            dropped[tag] = f"{share:.0%} missing"
        elif column.nunique(dropna=True) < 2:
            dropped[tag] = "constant"
    usable = tuple(t for t in tags if t not in dropped)
    if len(usable) < 2:
        raise DetectorFitError(f"baseline: fewer than two usable tags (dropped: {dropped or 'none'}; tags {tags})")
    return usable, dropped
