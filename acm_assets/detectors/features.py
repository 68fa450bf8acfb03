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
FROZEN_DEVIATION = 20.0  # a spread deviation this far below is a window without any change
MIN_EXCESS_KURTOSIS = 0.5  # kurtosis - 1 never below this (a two-valued tag has kurtosis 1)
FEATURE_KINDS = ("value", "pooled", "prev", "spread")
MIN_WINDOW_ROWS = 3


def feature_names(tags) -> list[tuple[str, str]]:
    """The fixed schema as (kind, tag) pairs (a tag name is data: PI AF paths hold `|` and `\\`), per tag: its
    value normalised in its regime, its value normalised in the pooled
    running state (dynamics are read here: regime switches would be jumps), the pooled value one baseline
    cadence earlier (AR lag), and the spread of its pooled first differences over the window, as a deviation
    from the baseline's in units of its sampling noise (`spread_deviation`)."""
    return [(kind, tag) for kind in FEATURE_KINDS for tag in tags]


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


def window_logstd(z: np.ndarray, times: np.ndarray, include: np.ndarray, window_ns: int, min_rows):
    """Log standard deviation of each column over (t - window, t], using only the `include` cells (a
    rows x columns mask: imputed readings and resting rows carry no evidence of noise or of a frozen sensor),
    and the number of readings each estimate rests on.

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
    return logstd, n


def spread_deviation(logstd: np.ndarray, readings: np.ndarray, log_scale: np.ndarray, kurtosis: np.ndarray):
    """A window's log spread against the tag's baseline spread, in units of its own sampling noise.

    The log standard deviation of n readings scatters by about sqrt((kurtosis - 1) / (4 n)) around the true
    one (1 / sqrt(2 n) for normal readings; wider for heavy-tailed or held ones): a spread from 12 readings
    moves four times as far by chance as one from 200. Standardised by it, a deviation means the same whatever
    the window holds, and needs no baseline long enough to show many independent windows. A window with no
    change at all (a frozen sensor) is at -FROZEN_DEVIATION."""
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (logstd - log_scale) / np.sqrt(np.maximum(kurtosis - 1.0, MIN_EXCESS_KURTOSIS) / (4.0 * readings))
    u = np.clip(u, -FROZEN_DEVIATION, FROZEN_DEVIATION)
    return np.where(logstd <= np.log(LOGSTD_FLOOR) + 1e-9, -FROZEN_DEVIATION, u)


def difference_statistics(differences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: the log standard deviation and the kurtosis of first differences (NaN cells ignored), the
    baseline facts `spread_deviation` measures windows against."""
    log_scale = np.full(differences.shape[1], np.log(LOGSTD_FLOOR))
    kurtosis = np.full(differences.shape[1], 3.0)
    for j in range(differences.shape[1]):
        d = differences[:, j]
        d = d[np.isfinite(d)]
        if d.size < 4 or d.std() <= 0:
            continue
        d = d - d.mean()
        log_scale[j] = np.log(max(float(d.std()), LOGSTD_FLOOR))
        kurtosis[j] = float(np.mean(d**4) / np.mean(d**2) ** 2)
    return log_scale, kurtosis


def lag_rows(times: np.ndarray, cadence_ns: int) -> np.ndarray:
    """Per row, the earlier row one baseline cadence back (-1 if none): the previous row at the baseline's own
    cadence (minute jitter included), the row a cadence back in finer data. Lags and first differences then
    mean the same whatever cadence the historian is scored at: a 30-minute baseline scored at 10 minutes would
    otherwise see every temperature change three times less per step, i.e. frozen."""
    n = len(times)
    if n == 0 or cadence_ns <= 0:
        return np.full(n, -1, dtype=np.int64)
    target = times - cadence_ns
    before = np.searchsorted(times, target, side="right") - 1  # the last row at or before one cadence back
    after = before + 1  # the first row after it, if it is still half a cadence back
    positions = np.arange(n)
    after_ok = (after < positions) & (times[np.minimum(after, n - 1)] <= times - cadence_ns // 2)
    nearer = (times[np.minimum(after, n - 1)] - target) < (target - times[np.maximum(before, 0)])
    lag = np.where(after_ok & ((before < 0) | nearer), after, before)
    return np.where(lag < positions, lag, -1).astype(np.int64)


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
