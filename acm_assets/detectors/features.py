"""Time-based feature windows and limited forward fill, computed so a row never depends on the batch split.

Window sums use exact integer cumulative sums of the values quantised to 1/4096 of a standard deviation:
integer addition has no rounding, so a window's spread is bit-identical whether the batch started a day or
a month earlier (pandas' rolling sums carry float rounding from the start of the batch).
"""

from __future__ import annotations

import numpy as np

_QUANTUM = 4096.0
_WINDOW_CLIP = 100.0  # standard deviations; keeps integer sums of squares far from overflow
LOGSTD_FLOOR = 1e-3
FEATURE_KINDS = ("pooled", "prev", "logstd")
MIN_WINDOW_ROWS = 3


def feature_names(tags) -> list[str]:
    """The fixed schema, per tag: its value normalised in its regime, its value normalised in the pooled
    running state (dynamics are read here: regime switches would be jumps), the previous point's pooled
    value (AR lag), and the log standard deviation of its pooled first differences over the window."""
    return list(tags) + [f"{tag}|{kind}" for kind in FEATURE_KINDS for tag in tags]


def ffill_within(values: np.ndarray, times: np.ndarray, limit_ns: int) -> np.ndarray:
    """Forward fill each column from its last valid value, only if that value is at most `limit_ns` old."""
    out = values.copy()
    n = values.shape[0]
    positions = np.arange(n)
    for j in range(values.shape[1]):
        valid = ~np.isnan(values[:, j])
        if valid.all() or not valid.any():
            continue
        last = np.maximum.accumulate(np.where(valid, positions, -1))
        usable = (last >= 0) & ~valid
        source = np.where(usable, last, 0)
        fresh = usable & (times - times[source] <= limit_ns)
        out[fresh, j] = values[source[fresh], j]
    return out


def window_logstd(z: np.ndarray, times: np.ndarray, include: np.ndarray, window_ns: int, min_rows) -> np.ndarray:
    """Log standard deviation of each column over (t - window, t], using only the `include` cells (a
    rows x columns mask: imputed readings and resting rows carry no evidence of noise or of a frozen sensor).

    Cells whose window holds fewer than `min_rows` included values (per column) get NaN (the heads fill them
    from their baseline medians), so a spread is never estimated from one or two differences, nor a tag that
    normally holds its reading for a while (an analyser's sample-and-hold, a coarse quantisation) called frozen
    by a window shorter than its holds.
    """
    q = np.rint(np.clip(z, -_WINDOW_CLIP, _WINDOW_CLIP) * _QUANTUM).astype(np.int64)
    q[~include] = 0
    zero = np.zeros((1, z.shape[1]), dtype=np.int64)
    s1 = np.concatenate([zero, np.cumsum(q, axis=0)])
    s2 = np.concatenate([zero, np.cumsum(q * q, axis=0)])
    count = np.concatenate([zero, np.cumsum(include.astype(np.int64), axis=0)])
    start = np.searchsorted(times, times - window_ns, side="right")
    end = np.arange(1, len(times) + 1)
    n = (count[end] - count[start]).astype(np.float64)
    sum1 = (s1[end] - s1[start]).astype(np.float64)
    sum2 = (s2[end] - s2[start]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.clip((sum2 - sum1 * sum1 / n) / (n - 1.0), 0.0, None) / (_QUANTUM * _QUANTUM)
        logstd = np.log(np.maximum(np.sqrt(var), LOGSTD_FLOOR))
    logstd[n < np.asarray(min_rows)] = np.nan
    return logstd


def hold_rows(values: np.ndarray) -> np.ndarray:
    """Per column, the number of rows a spread needs: MIN_WINDOW_ROWS, or twice the 95th percentile of the
    runs of unchanged readings (a 15-minute analyser sampled every 3 minutes repeats each result 5 times)."""
    out = np.full(values.shape[1], MIN_WINDOW_ROWS, dtype=np.int64)
    for j in range(values.shape[1]):
        x = values[:, j]
        x = x[~np.isnan(x)]
        if x.size < 2:
            continue
        changed = np.concatenate([[True], np.diff(x) != 0, [True]])
        runs = np.diff(np.flatnonzero(changed))
        out[j] = max(MIN_WINDOW_ROWS, int(2 * np.ceil(np.quantile(runs, 0.95))))
    return out
