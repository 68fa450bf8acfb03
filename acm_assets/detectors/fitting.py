"""Fitting one artifact at a time (one Dagster asset per model type): the baseline's condition, the learnable
rows, and every head fitted on them and cross-fitted on their time blocks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from acm_assets.detectors.artifacts import Artifact, ModelType, fingerprint
from acm_assets.detectors.condition import condition_baseline
from acm_assets.detectors.config import EnsembleConfig
from acm_assets.detectors.crossfit import cross_fit, plan_folds
from acm_assets.detectors.errors import DetectorFitError, DetectorInputError
from acm_assets.detectors.frames import checked_index, numeric_tags
from acm_assets.detectors.heads import HEAD_CLASSES, GMMHead, IForestHead
from acm_assets.detectors.inputs import Carry, build_inputs, head_columns
from acm_assets.detectors.medians import fit_feature_medians
from acm_assets.detectors.operating import RUNNING, fit_regime_model

MODEL_DEPENDENCIES: dict[ModelType, tuple[ModelType, ...]] = {
    ModelType.regime_model: (),
    ModelType.feature_medians: (ModelType.regime_model,),
    **{t: (ModelType.regime_model, ModelType.feature_medians) for t in HEAD_CLASSES},
}
FIT_ORDER = tuple(MODEL_DEPENDENCIES)


def fit_model(model_type, baseline: pd.DataFrame, config: EnsembleConfig, upstream: dict | None = None,
              normal_spans=()) -> Artifact:
    """Fit one artifact on `baseline`; `upstream` holds the fitted artifacts MODEL_DEPENDENCIES names.
    `normal_spans`, (start, end) pairs an engineer judged normal operation, are learned from even where the
    contamination trim would cut their rows."""
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
    if model_type is ModelType.regime_model:
        condition = condition_baseline(frame, config)
        frame = condition.span(frame)
        raw = frame[list(condition.tags)].to_numpy(dtype=np.float64)
        times = frame.index.asi8.copy()
        if len(raw) < config.min_baseline_rows:
            raise DetectorFitError(f"baseline has {len(raw)} rows; min_baseline_rows is {config.min_baseline_rows}")
        fp = fingerprint(model_type.value, config.signature(), condition.tags, times, raw)
        regime = fit_regime_model(raw, times, condition, config, fingerprint=fp)
        regime.baseline_fingerprint = fingerprint(condition.tags, times, raw)
        return regime

    regime = upstream[ModelType.regime_model]
    frame = regime.condition.span(frame)
    times = frame.index.asi8.copy()
    raw = numeric_tags(frame, regime.tags, "baseline").to_numpy()
    spans = _spans(normal_spans)
    ups = {t.value: upstream[t].fingerprint for t in MODEL_DEPENDENCIES[model_type]}
    fp = fingerprint(model_type.value, config.signature(), regime.tags, times, raw, sorted(ups.items()), spans)
    inputs, off, _, _ = build_inputs(raw, times, regime, upstream.get(ModelType.feature_medians), last_low_ns=None,
                                     carry=Carry.empty(len(regime.tags)))
    if model_type is ModelType.feature_medians:
        artifact = fit_feature_medians(raw, times, regime, off, regime.scaler_rows(inputs.regime), fingerprint=fp,
                                       upstream=ups)
    else:
        vouched = np.zeros(len(times), dtype=bool)
        for start, end in spans:
            vouched |= (times >= start) & (times <= end)
        artifact = _fit_head(model_type, inputs, regime, raw, times, config, vouched, fingerprint=fp, upstream=ups)
        artifact.params["normal_spans"] = [[_iso(s), _iso(e)] for s, e in spans]
    artifact.baseline_fingerprint = fingerprint(regime.tags, times, raw)
    return artifact


def _fit_head(model_type, inputs, regime, raw, times, config, vouched, *, fingerprint, upstream):
    learnable = regime.states(raw, times, None, settle_ns=regime.min_settle_ns)[0] == RUNNING
    rows, trimmed = learning_rows(inputs, learnable, config, vouched)
    plan = plan_folds(inputs.times[rows], config.crossfit_folds, regime.memory_ns, regime.window_ns)
    columns = head_columns(model_type.value, regime.tags, regime.independent_tags)
    matrix = dithered(inputs.subset(rows).matrix(columns), columns, regime, config.seed)
    trainable = np.ones(len(rows), dtype=bool)
    if HEAD_CLASSES[model_type] in (GMMHead, IForestHead):
        # a window too short for a spread holds no evidence of one: filled, such rows would stack into a point
        # mass that a mixture component (or a forest's split) fits as if it were a normal state
        defined = ~np.isnan(matrix).any(axis=1)
        if 2 * defined.sum() >= len(matrix):
            trainable = defined
    with warnings.catch_warnings():  # a feature never defined in training is filled with 0 (its neutral value)
        warnings.simplefilter("ignore", RuntimeWarning)
        fill = np.nan_to_num(np.nanmedian(matrix[trainable], axis=0))
    regimes = inputs.regime[rows]

    def capped(positions: np.ndarray) -> np.ndarray:
        return _stratified(positions, regimes[positions], config.max_train_rows)

    head = HEAD_CLASSES[model_type](
        columns=columns, scaler={"centers": regime.centers, "scales": regime.scales, "fingerprint": regime.fingerprint},
        fill=fill, tags=regime.tags, fingerprint=fingerprint, upstream=upstream, train_rows=0,
        params={"feature_window_s": regime.window_ns / 1e9, "contamination_trim": trimmed},
    )
    train = capped(np.flatnonzero(trainable))
    # the noise floor in normalised units (1 where it binds); a spread window's rows at the baseline cadence
    context = {"floor": regime.noise_floor / regime.scales[-1],
               "window_rows": regime.window_ns / max(regime.durations.cadence_ns, 1)}
    head.fit(head.inputs(matrix[train]), config, context)
    head.train_rows = int(len(train))
    x = head.inputs(matrix)
    settled = inputs.state[rows] == RUNNING
    result = cross_fit(head, x, plan, trainable, settled, capped)
    calibrated = np.flatnonzero(result["rows"])
    keep = np.linspace(0, len(calibrated) - 1, min(len(calibrated), config.max_calibration_rows)).astype(int)
    head.oof_times = inputs.times[rows][calibrated][keep]
    head.oof_z = {name: z[keep].astype(np.float32) for name, z in result["z"].items()}
    head.params = {
        **head.params,
        "train_rows": head.train_rows,
        "cross_fitting": {**plan.to_params(), "out_of_fold_rows": int(len(calibrated)),
                          "departure": result["departure"]},
        "calibration": {name: c.to_params() for name, c in head.calibrators.items()},
    }
    return head


def dithered(matrix: np.ndarray, columns, regime, seed: int) -> np.ndarray:
    """The values of tags that vary less than their noise floor, spread to it: a quantised temperature that sat on
    three counts through the baseline is learned as a reading anywhere within its floor, so every head (the
    covariances and the forest's splits included) takes one more count for what it is. Fixed seed."""
    floored = {tag for tag, f in zip(regime.tags, regime.floored) if f}
    out = matrix.copy()
    rng = np.random.default_rng(seed)
    for k, (kind, tag) in enumerate(columns):
        if tag in floored and kind != "spread":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                spread = float(np.nanstd(out[:, k])) if len(out) else 1.0
            out[:, k] += rng.normal(0.0, np.sqrt(max(1.0 - spread * spread, 0.0)), len(out))
    return out


def learning_rows(inputs, learnable: np.ndarray, config: EnsembleConfig,
                  vouched: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """The `learnable` rows (running past the configured start-up settle) minus obvious contamination (any tag
    beyond `trim_z` robust deviations) unless `vouched` for (judged normal by an engineer), in time order, and
    how many were trimmed and kept. The heads thus learn how temperatures move together while they settle (the
    same direction as a hot afternoon), while only the rows that can alarm (running past the learned settle)
    calibrate them."""
    vouched = np.zeros(len(learnable), dtype=bool) if vouched is None else vouched
    within = np.nanmax(np.abs(inputs.z), axis=1) <= config.trim_z
    clean = learnable & (within | vouched)
    rows = np.flatnonzero(clean)
    if len(rows) < config.min_baseline_rows:
        raise DetectorFitError(
            f"baseline: {len(rows)} clean running rows after removing OFF/start-up rows and contamination "
            f"(> {config.trim_z} robust deviations); min_baseline_rows is {config.min_baseline_rows}"
        )
    return rows, {"contamination": int((learnable & ~clean).sum()), "kept_as_normal": int((clean & ~within).sum())}


def _spans(normal_spans) -> list[tuple[int, int]]:
    """(start, end) pairs as int64 ns, each refused by name when it is not a time range."""
    out = []
    for span in normal_spans:
        try:
            start, end = (pd.Timestamp(value) for value in span)
        except (TypeError, ValueError) as exc:
            raise DetectorInputError(f"normal_spans: {span!r} is not a (start, end) pair of times ({exc})") from None
        start, end = (t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC") for t in (start, end))
        if end < start:
            raise DetectorInputError(f"normal_spans: {span!r} ends before it starts")
        out.append((start.value, end.value))
    return sorted(out)


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").isoformat()


def _stratified(rows: np.ndarray, regime: np.ndarray, cap: int) -> np.ndarray:
    """At most `cap` of `rows`, evenly spaced in time within each regime."""
    if len(rows) <= cap:
        return rows
    picked = []
    for r in np.unique(regime):
        part = rows[regime == r]
        take = max(1, int(round(cap * len(part) / len(rows))))
        picked.append(part[np.linspace(0, len(part) - 1, min(take, len(part))).astype(int)])
    return np.sort(np.concatenate(picked))
