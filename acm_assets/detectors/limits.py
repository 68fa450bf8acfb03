"""Time to a limit: how long a tag trending toward its limit has before it crosses it, with an interval.

The trend is a least-squares fit of the tag's readings against time: a straight line, or a parabola where the
readings bend (an accelerating degradation: a bearing temperature rises faster as it wears) and the curvature
is clear of its standard error. The crossing is where the fitted trend meets the limit after the last reading.
The interval comes from refitting on resampled residuals (fixed seed), so it widens with noise and with the
distance of the extrapolation. No number is given where the trend is flat, points away from the limit, or too
few readings support it: the estimate says why. Standard errors and the resampling allow for residuals that wander
for hours (autocorrelated), as a tag following its load does.

`time_to_limit_beyond_conditions` trends what the equipment's other tags do not explain of a tag (its departure
from its conditions) instead of its raw readings, which over hours mostly follow the load and the ambient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HOUR_NS = 3600 * 10**9
MIN_READINGS = 6
CURVATURE_T = 3.0  # |curvature| / its standard error above which the parabola is kept
SLOPE_T = 2.0  # the trend toward the limit must be this many standard errors from flat
RESAMPLES = 200
INTERVAL = (0.1, 0.9)
MIN_REFERENCE_PER_TAG = 10  # reference readings per regression coefficient, at least
HINGE_LOOKBACK_H = 72.0  # how long before the onset a degradation may have begun
MAX_FIT_POINTS = 2000  # departures averaged into at most this many bins (a 1 s tag over a week is 600,000)
MAX_RHO = 0.99  # caps the autocorrelation so the inflation stays finite (100 readings count as one at most)


@dataclass(frozen=True)
class LimitEstimate:
    """Hours from the last reading to the crossing (`hours`), its interval (`low`, `high`; `high` None: not
    bounded within the data's support), or the reason there is no number."""

    tag: str
    limit: float
    direction: str  # "above" (the limit is a high limit) or "below"
    hours: float | None
    low: float | None
    high: float | None
    trend: str  # "linear", "accelerating", or "" without an estimate
    reason: str = ""

    def describe(self) -> str:
        if self.hours is None:
            return f"{self.tag}: {self.reason}"
        high = "open" if self.high is None else f"{self.high:.3g}"
        return (f"{self.tag} reaches {self.limit:g} in {self.hours:.3g} h ({self.low:.3g}-{high} h, {self.trend} "
                f"trend)")


def time_to_limit(tag: str, times_ns: np.ndarray, values: np.ndarray, limit: float, direction: str,
                  seed: int = 0) -> LimitEstimate:
    """The estimate for readings `values` at `times_ns` (int64 ns) against a high (`direction` "above") or low
    ("below") `limit`."""
    if direction not in ("above", "below"):
        raise ValueError(f"direction must be 'above' or 'below', got {direction!r}")
    keep = np.isfinite(values)
    t = (np.asarray(times_ns, dtype=np.int64)[keep] - int(times_ns[keep][-1] if keep.any() else 0)) / HOUR_NS
    y = np.asarray(values, dtype=np.float64)[keep]
    sign = 1.0 if direction == "above" else -1.0
    nothing = dict(tag=tag, limit=float(limit), direction=direction, hours=None, low=None, high=None, trend="")
    if len(y) < MIN_READINGS or np.ptp(t) <= 0:
        return LimitEstimate(**nothing, reason=f"too few readings to trend ({len(y)} < {MIN_READINGS})")
    coef, resid, degree = _trend(t, y)
    now = float(np.polyval(coef, 0.0))
    if sign * (now - limit) >= 0:
        return LimitEstimate(**{**nothing, "hours": 0.0, "low": 0.0, "high": 0.0,
                                "trend": _name(degree)}, reason="already beyond the limit")
    slope = float(np.polyval(np.polyder(coef), 0.0))
    slope_se = _slope_se(t, resid, degree)
    if sign * slope <= SLOPE_T * slope_se:
        return LimitEstimate(**nothing, reason=f"not trending toward {limit:g} (slope {slope:.3g}/h, "
                                                 f"standard error {slope_se:.3g})")
    hours = _crossing(coef, limit)
    if hours is None:
        return LimitEstimate(**nothing, reason=f"the {_name(degree)} trend never reaches {limit:g}")
    rng = np.random.default_rng(seed)
    fitted = np.polyval(coef, t)
    block = int(np.ceil(_inflation(resid)))
    draws = []
    for _ in range(RESAMPLES):
        sample = np.polyfit(t, fitted + _block_resample(resid, block, rng), degree)
        crossing = _crossing(sample, limit)
        draws.append(np.inf if crossing is None else crossing)
    low, high = np.quantile(draws, INTERVAL, method="inverted_cdf")
    return LimitEstimate(tag=tag, limit=float(limit), direction=direction, hours=float(hours), low=float(low),
                         high=None if not np.isfinite(high) else float(high), trend=_name(degree))


def time_to_limit_beyond_conditions(tag: str, frame: pd.DataFrame, onset: pd.Timestamp, limit: float,
                                    direction: str, exclude=(), seed: int = 0) -> LimitEstimate:
    """The estimate for `tag` in `frame` (the equipment's readings, UTC index, from well before `onset` to the
    last reading), trending what the other tags do not explain of it.

    A bearing temperature follows its load and the ambient by several degrees a day, more than a wear adds in
    hours, so its raw readings over an episode mostly trend the day. Here the tag is regressed on the others
    (less those in `exclude`, the episode's culprits, which depart too) over the readings before `onset`; from the
    onset on, the departure from that expectation is trended, and the crossing comes where the departure, on top
    of the usual daily high the conditions give the tag (the median over the days in `frame` of each day's highest
    hourly expectation; the lowest for a low limit), meets the limit. Without enough reference readings or other
    tags, the raw readings since the onset are trended."""
    if tag not in frame:
        return time_to_limit(tag, np.array([], dtype=np.int64), np.array([]), limit, direction, seed)
    raw = frame.loc[frame.index >= onset, tag].dropna()
    rows = frame[[tag, *[c for c in frame.columns if c != tag and c not in set(exclude)]]].dropna()
    conditions = rows.drop(columns=tag)
    before = rows.index < onset
    conditions = conditions.loc[:, conditions[before].std() > 0]
    if conditions.empty or before.sum() < MIN_REFERENCE_PER_TAG * (conditions.shape[1] + 1):
        return time_to_limit(tag, raw.index.asi8, raw.to_numpy(dtype=float), limit, direction, seed)
    x = conditions.to_numpy(dtype=float)
    centre, scale = x[before].mean(axis=0), x[before].std(axis=0)
    design = np.column_stack([np.ones(len(x)), (x - centre) / scale])
    coef = np.linalg.lstsq(design[before], rows[tag].to_numpy(dtype=float)[before], rcond=None)[0]
    expected = pd.Series(design @ coef, index=rows.index)
    hourly = expected.resample("1h").median()
    daily = hourly.resample("1D").max() if direction == "above" else hourly.resample("1D").min()
    level = float(daily.median())
    return _hinge_estimate(tag, float(limit), direction, rows[tag] - expected, onset, float(limit) - level, seed)


def _hinge_estimate(tag: str, limit: float, direction: str, departure: pd.Series, onset: pd.Timestamp, margin: float,
                    seed: int) -> LimitEstimate:
    """The departure (about zero before the degradation began) fitted as k * (t - tau)^d after a start tau, d 1
    (a steady wear) or 2 (an accelerating one), tau searched hourly from HINGE_LOOKBACK_H before the onset up to
    it (a degradation begins before its first evidence; the detectors see a slow one late); the crossing is where it reaches `margin`. The interval refits on residuals
    resampled in blocks (they wander for hours)."""
    sign = 1.0 if direction == "above" else -1.0
    nothing = dict(tag=tag, limit=limit, direction=direction, hours=None, low=None, high=None, trend="")
    if sign * margin <= 0:
        return LimitEstimate(**{**nothing, "hours": 0.0, "low": 0.0, "high": 0.0},
                             reason="already beyond the limit at the usual daily high")
    if len(departure) > MAX_FIT_POINTS:
        width = (departure.index[-1] - departure.index[0]) / MAX_FIT_POINTS
        departure = departure.resample(width).mean().dropna()
    t = (departure.index.asi8 - departure.index.asi8[-1]) / HOUR_NS
    z = sign * departure.to_numpy(dtype=float)
    onset_h = (onset.value - departure.index.asi8[-1]) / HOUR_NS
    taus = np.arange(max(t[0], onset_h - HINGE_LOOKBACK_H), min(onset_h, -1.0) + 1e-9, 1.0)
    if len(taus) == 0 or (t >= onset_h).sum() < MIN_READINGS:
        return LimitEstimate(**nothing, reason=f"too few readings since the onset to trend (fewer than {MIN_READINGS}, or under an hour)")
    shapes = [(d, tau) for d in (1, 2) for tau in taus]
    basis = np.array([np.clip(t - tau, 0.0, None) ** d for d, tau in shapes])
    norms = np.maximum((basis * basis).sum(axis=1), 1e-12)

    def fits(ys: np.ndarray):
        """Per row of `ys`: the best shape's index and slope."""
        projected = basis @ ys.T
        slopes = projected / norms[:, None]
        best = np.argmax(projected * slopes, axis=0)  # least squares: the largest explained sum of squares
        return best, slopes[best, np.arange(ys.shape[0])]

    (best,), (k,) = fits(z[None, :])
    degree, tau = shapes[best]
    fitted = k * basis[best]
    resid = z - fitted
    inflation = _inflation(resid)
    k_se = np.sqrt(float(resid @ resid) / max(len(z) - 2, 1) * inflation / norms[best])
    if k <= SLOPE_T * k_se:
        return LimitEstimate(**nothing, reason=f"not trending toward {limit:g} beyond what its conditions explain")
    if fitted[-1] >= sign * margin:
        return LimitEstimate(**{**nothing, "hours": 0.0, "low": 0.0, "high": 0.0, "trend": _name(degree)},
                             reason="already beyond the limit at the usual daily high")
    rng = np.random.default_rng(seed)
    block = int(np.ceil(inflation))
    samples = fitted + np.array([_block_resample(resid, block, rng) for _ in range(RESAMPLES)])
    picks, slopes = fits(samples)
    draws = [
        tau_j + (sign * margin / k_j) ** (1.0 / d_j) if k_j > 0 else np.inf
        for (d_j, tau_j), k_j in zip((shapes[i] for i in picks), slopes)
    ]
    low, high = np.quantile(np.maximum(draws, 0.0), INTERVAL, method="inverted_cdf")
    hours = tau + (sign * margin / k) ** (1.0 / degree)
    return LimitEstimate(tag=tag, limit=limit, direction=direction, hours=float(hours), low=float(low),
                         high=None if not np.isfinite(high) else float(high), trend=_name(degree))


def _trend(t, y):
    """The parabola where its curvature is clear of noise, else the line: (coefficients, residuals, degree)."""
    line = np.polyfit(t, y, 1)
    parabola, cov = np.polyfit(t, y, 2, cov=True) if len(y) > MIN_READINGS else (None, None)
    if parabola is not None and np.all(np.isfinite(cov)) and cov[0, 0] > 0:
        resid = y - np.polyval(parabola, t)
        if abs(parabola[0]) > CURVATURE_T * np.sqrt(cov[0, 0] * _inflation(resid)):
            return parabola, resid, 2
    return line, y - np.polyval(line, t), 1


def _slope_se(t, resid, degree) -> float:
    """The standard error of the trend's slope at the last reading (t = 0)."""
    design = np.vander(t, degree + 1)
    dof = max(len(t) - degree - 1, 1)
    sigma2 = float(resid @ resid) / dof * _inflation(resid)
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    return float(np.sqrt(max(cov[-2, -2], 0.0)))


def _inflation(resid: np.ndarray) -> float:
    """How much autocorrelated residuals (a tag wandering with its load for hours) widen a fit's standard errors
    over independent ones: (1 + rho) / (1 - rho) for the lag-1 autocorrelation rho, which is also about how many
    readings one independent one is worth."""
    centred = resid - resid.mean()
    energy = float(centred @ centred)
    if len(resid) < 3 or energy <= 0:
        return 1.0
    rho = min(max(float(centred[1:] @ centred[:-1]) / energy, 0.0), MAX_RHO)
    return (1 + rho) / (1 - rho)


def _block_resample(resid: np.ndarray, block: int, rng) -> np.ndarray:
    """Residuals resampled in blocks of `block` consecutive readings (a moving-block bootstrap), so a resample
    keeps their wander."""
    block = max(1, min(block, len(resid)))
    starts = rng.integers(0, len(resid) - block + 1, size=-(-len(resid) // block))
    return np.concatenate([resid[s : s + block] for s in starts])[: len(resid)]


def _crossing(coef, limit) -> float | None:
    """The first time after the last reading (t > 0, hours) where the polynomial meets the limit."""
    roots = np.roots(np.polysub(coef, [limit]))
    ahead = [r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0]
    return min(ahead) if ahead else None


def _name(degree: int) -> str:
    return "accelerating" if degree == 2 else "linear"
