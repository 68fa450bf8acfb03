"""From raw tag values to what the heads read: operating state, imputed values, regime-normalised tags,
pooled-normalised tags with their previous point (AR lags) and time-window spreads. One function for
fitting and scoring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acm_assets.detectors.features import feature_names, lag_rows, spread_deviation, window_logstd
from acm_assets.detectors.operating import NEVER, OFF, RUNNING


@dataclass
class Inputs:
    times: np.ndarray  # int64 ns
    tags: tuple[str, ...]
    state: np.ndarray
    regime: np.ndarray
    n_imputed: np.ndarray
    z: np.ndarray
    pooled: np.ndarray
    pooled_prev: np.ndarray
    spread: np.ndarray
    last_low: np.ndarray  # per row, the time of the last OFF or low-load row up to it (NEVER before any)
    last_low_ns: int | None

    def matrix(self, columns) -> np.ndarray:
        blocks = {"value": self.z, "pooled": self.pooled, "prev": self.pooled_prev, "spread": self.spread}
        index = {tag: j for j, tag in enumerate(self.tags)}
        out = np.empty((len(self.times), len(columns)))
        for k, (kind, tag) in enumerate(columns):
            out[:, k] = blocks[kind][:, index[tag]]
        return out

    def subset(self, rows: np.ndarray) -> Inputs:
        arrays = {k: v[rows] for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        return Inputs(tags=self.tags, last_low_ns=self.last_low_ns, **arrays)


@dataclass
class Carry:
    """The end of the previous batch: raw readings (forward-fill sources), pooled-normalised values and resting
    flags (OFF or transition: left out of windows and AR lags). Rows older than the longest lookback are
    dropped."""

    times: np.ndarray
    raw: np.ndarray
    z: np.ndarray
    resting: np.ndarray

    @classmethod
    def empty(cls, p: int) -> Carry:
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, p)), np.zeros((0, p)), np.zeros(0, dtype=bool))

    def extend(self, times, raw, z, resting, lookback_ns: int) -> Carry:
        times = np.concatenate([self.times, times])
        keep = times > times[-1] - lookback_ns if len(times) else np.zeros(0, dtype=bool)
        return Carry(
            times[keep],
            np.concatenate([self.raw, raw])[keep],
            np.concatenate([self.z, z])[keep],
            np.concatenate([self.resting, resting])[keep],
        )


def build_inputs(values, times, regime_model, medians, *, last_low_ns, carry: Carry):
    """Inputs for the new rows only; the carry supplies the history they look back on."""
    k = len(carry.times)
    raw_all = np.concatenate([carry.raw, values])
    times_all = np.concatenate([carry.times, times])
    state, regime, last_low = regime_model.states(raw_all, times_all, last_low_ns)
    new_last_low = int(last_low[-1]) if len(last_low) and last_low[-1] > NEVER else last_low_ns
    state, regime, last_low = state[k:], regime[k:], last_low[k:]
    off = state == OFF
    rows = regime_model.scaler_rows(regime)
    if medians is None:
        imputed, n_imputed = values, np.isnan(values).sum(axis=1)
    else:
        imputed, n_imputed = medians.impute(raw_all, times_all, np.concatenate([np.zeros(k, int), rows]),
                                            np.concatenate([np.zeros(k, bool), off]))
        imputed, n_imputed = imputed[k:], n_imputed[k:]
    z = (imputed - regime_model.centers[rows]) / regime_model.scales[rows]
    pooled = np.nan_to_num((imputed - regime_model.centers[-1]) / regime_model.scales[-1])
    z_all = np.concatenate([carry.z, pooled])
    # OFF and transition rows (ramps, thermal settling) stay out of the windows and the AR lags, so a
    # spread or a lag never mixes a start-up into steady running
    resting = state != RUNNING
    resting_all = np.concatenate([carry.resting, resting])
    lag = lag_rows(times_all, regime_model.durations.cadence_ns)
    usable = (lag >= 0) & (times_all - times_all[np.maximum(lag, 0)] <= regime_model.durations.ns("ar_max_gap"))
    usable &= ~resting_all[np.maximum(lag, 0)]
    observed = ~np.isnan(raw_all)
    measured = observed & np.where(usable[:, None], observed[np.maximum(lag, 0)], False)
    # a lag pairs two readings: an imputed one on either side carries no dynamics (the step from a held
    # reading to the regime median is the imputation's, not the machine's)
    z_prev = np.where(measured, z_all[np.maximum(lag, 0)], np.nan)
    has_prev = (usable & ~resting_all)[:, None] & measured
    # spread of the first differences: trends (load, weather) cancel, sensor noise and frozen readings do not
    logstd, readings = window_logstd(np.nan_to_num(z_all - z_prev), times_all, has_prev, regime_model.window_ns,
                                     regime_model.spread_rows)
    spread = spread_deviation(logstd, readings, regime_model.diff_log_scale, regime_model.diff_kurtosis)
    inputs = Inputs(
        times=times, tags=regime_model.tags, state=state, regime=regime,
        n_imputed=n_imputed, z=z, pooled=pooled, pooled_prev=z_prev[k:], spread=spread[k:], last_low=last_low,
        last_low_ns=new_last_low,
    )
    return inputs, off, resting, pooled


def head_columns(model_type: str, tags, independent) -> list[tuple[str, str]]:
    """The fixed input schema of each head; the Mahalanobis head inverts a covariance, so it reads one tag of
    each redundant group (`independent`)."""
    names = feature_names(tags)
    p = len(tags)
    values, pooled, prev, spread = (names[i * p : (i + 1) * p] for i in range(4))
    return {
        "ar1_params": pooled + prev,
        "pca_model": values,
        "mhal_params": [c for c in values if c[1] in independent],
        "omr_model": values,
        "gmm_model": spread,
        "iforest_model": values + spread,
    }[model_type]
