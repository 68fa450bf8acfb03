"""Time to a limit: how long a tag trending toward its limit has before it crosses it, with an interval.

The trend is a least-squares fit of the tag's readings against time: a straight line, or a parabola where the
readings bend (an accelerating degradation: a bearing temperature rises faster as it wears) and the curvature
is clear of its standard error. The crossing is where the fitted trend meets the limit after the last reading.
The interval comes from refitting on resampled residuals (fixed seed), so it widens with noise and with the
distance of the extrapolation. No number is given where the trend is flat, points away from the limit, or too
few readings support it: the estimate says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOUR_NS = 3600 * 10**9
MIN_READINGS = 6
CURVATURE_T = 3.0  # |curvature| / its standard error above which the parabola is kept
SLOPE_T = 2.0  # the trend toward the limit must be this many standard errors from flat
RESAMPLES = 200
INTERVAL = (0.1, 0.9)


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
    draws = []
    for _ in range(RESAMPLES):
        sample = np.polyfit(t, fitted + rng.choice(resid, len(resid), replace=True), degree)
        crossing = _crossing(sample, limit)
        draws.append(np.inf if crossing is None else crossing)
    low, high = np.quantile(draws, INTERVAL)
    return LimitEstimate(tag=tag, limit=float(limit), direction=direction, hours=float(hours), low=float(low),
                         high=None if not np.isfinite(high) else float(high), trend=_name(degree))


def _trend(t, y):
    """The parabola where its curvature is clear of noise, else the line: (coefficients, residuals, degree)."""
    line = np.polyfit(t, y, 1)
    parabola, cov = np.polyfit(t, y, 2, cov=True) if len(y) > MIN_READINGS else (None, None)
    if parabola is not None and np.all(np.isfinite(cov)) and cov[0, 0] > 0:
        if abs(parabola[0]) > CURVATURE_T * np.sqrt(cov[0, 0]):
            return parabola, y - np.polyval(parabola, t), 2
    return line, y - np.polyval(line, t), 1


def _slope_se(t, resid, degree) -> float:
    """The standard error of the trend's slope at the last reading (t = 0)."""
    design = np.vander(t, degree + 1)
    dof = max(len(t) - degree - 1, 1)
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    return float(np.sqrt(max(cov[-2, -2], 0.0)))


def _crossing(coef, limit) -> float | None:
    """The first time after the last reading (t > 0, hours) where the polynomial meets the limit."""
    roots = np.roots(np.polysub(coef, [limit]))
    ahead = [r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0]
    return min(ahead) if ahead else None


def _name(degree: int) -> str:
    return "accelerating" if degree == 2 else "linear"
