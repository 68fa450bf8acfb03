"""Time to a limit: how long a tag trending toward its limit has before it crosses it, with an interval.

The trend is a least-squares fit of the tag's readings against time: a straight line, or a parabola where the
readings bend (an accelerating degradation: a bearing temperature rises faster as it wears) and the curvature
is clear of its standard error. The crossing is where the fitted trend meets the limit after the last reading.
The interval comes from refitting on resampled residuals (fixed seed), so it widens with noise and with the
distance of the extrapolation. No number is given where the trend is flat, points away from the limit, or too
few readings support it: the estimate says why. Standard errors and the resampling allow for residuals that wander
for hours (autocorrelated), as a tag following its load does.

`time_to_limit_beyond_conditions` forecasts a tag's hourly level as its own daily pattern plus the trend of what
the equipment's other tags do not explain of it (its departure from its conditions), and gives the first time
that forecast meets the limit: over hours the raw readings mostly follow the load and the ambient, and a tag
crosses a limit at a daily high.
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
MIN_HOURS = 3  # hourly levels since the onset needed to trend
HARMONICS = 2  # the departure's daily pattern: the day's sine and cosine and their first overtone
OUTLIER_Z = 4.0  # hours this many robust standard deviations off the fit (a stop, a start-up) are left out
FORECAST_DAYS = 30  # beyond this the crossing is not bounded
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
    last reading): the first time a forecast of the tag's hourly level meets the limit.

    A bearing temperature follows its load and the ambient by several degrees a day, more than a wear adds in
    hours, and it crosses a limit at a daily high. So the forecast is the tag's own daily pattern carried forward
    plus a degradation trend. The trend is fitted to what the equipment's other tags (less those in `exclude`, the
    episode's culprits, which depart too) do not explain of the tag, regressed over the readings before `onset`;
    that departure keeps a daily pattern of its own (the temperature lags its load), fitted beside the trend
    (`_departure_trend`). The daily pattern is the median hourly level by hour of day, less the trend, over the
    whole frame; its level is the last day's, as load and ambient wander over days. The crossing is the first time
    the forecast level of the hour then ending meets the limit. The interval refits the trend on resampled
    residuals and adds resampled residuals to the forecast, so it holds both the trend's uncertainty and the
    level's hourly scatter. Without enough reference readings or other tags, the raw readings since the onset are
    trended."""
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
    sign = 1.0 if direction == "above" else -1.0
    half = pd.Timedelta(minutes=30)  # an hour's median stands at its middle
    departure = sign * (rows[tag] - design @ coef).resample("1h").median().dropna().shift(freq=half)
    level = sign * rows[tag].resample("1h").median().dropna().shift(freq=half)
    return _forecast_estimate(tag, float(limit), direction, departure, level, onset, rows.index[-1], seed)


def _forecast_estimate(tag: str, limit: float, direction: str, departure: pd.Series, level: pd.Series,
                       onset: pd.Timestamp, now: pd.Timestamp, seed: int) -> LimitEstimate:
    """The crossing after `now` (the last reading) of the forecast level (`level` and `departure`: hourly
    medians at the hours' middles, signed so that the limit lies above) and its interval."""
    sign = 1.0 if direction == "above" else -1.0
    nothing = dict(tag=tag, limit=limit, direction=direction, hours=None, low=None, high=None, trend="")
    beyond = dict(nothing, hours=0.0, low=0.0, high=0.0)
    rng = np.random.default_rng(seed)
    fit = _departure_trend(departure, onset, now, rng)
    if fit is None:
        return LimitEstimate(**nothing, reason=f"too few readings since the onset to trend (fewer than {MIN_HOURS} "
                                               f"hours)")
    draws, significant, scatter, block = fit
    ahead = np.arange(1, int(FORECAST_DAYS * 24 * 60) + 1) / 60.0  # hours, one-minute steps
    middle = ahead - 0.5  # the level at each step is the median of the hour that ends there (a rolling hour)
    daily = _daily_pattern(level, lambda t: _wear(t, *draws[0]), now, middle)
    if level[level.index > now - pd.Timedelta(hours=24)].max() >= sign * limit:
        return LimitEstimate(**beyond, reason="already at or beyond the limit within the last day")
    if not significant:
        return LimitEstimate(**nothing, reason=f"not trending toward {limit:g} beyond what its conditions explain")

    def crossing(k, degree, tau, scatter=0.0):
        hits = np.flatnonzero(daily + scatter + _wear(middle, k, degree, tau) >= sign * limit)
        return ahead[hits[0]] if len(hits) else np.inf

    hours = crossing(*draws[0])
    if not np.isfinite(hours):
        return LimitEstimate(**nothing, reason=f"the trend does not reach {limit:g} within {FORECAST_DAYS} days")
    # Each refit of the trend meets the level as it will be read: with the fit's hourly residuals, resampled in
    # blocks, on top (a noisy level first reaches the limit when its scatter carries it there).
    hours_ahead = np.arange(int(np.ceil(ahead[-1])) + 1, dtype=float)
    low, high = np.quantile([
        crossing(*d, np.interp(ahead, hours_ahead, _block_resample(scatter, block, rng, len(hours_ahead))))
        if d[0] > 0 else np.inf for d in draws[1:]], INTERVAL, method="inverted_cdf")
    return LimitEstimate(tag=tag, limit=limit, direction=direction, hours=float(hours), low=float(low),
                         high=None if not np.isfinite(high) else float(high), trend=_name(draws[0][1]))


def _departure_trend(departure: pd.Series, onset: pd.Timestamp, now: pd.Timestamp, rng):
    """The departure (hourly, about zero before the degradation began) fitted as a daily pattern (HARMONICS
    sines and cosines of the hour of day, and a constant) plus k * (t - tau)^d after a start tau, d 1 (a steady
    wear) or 2 (an accelerating one), the shape with the least squared error; tau searched hourly from
    HINGE_LOOKBACK_H before the onset up to it (a degradation begins before its first evidence). Hours whose
    residual is an outlier (a stop, a start-up) are left out and the fit repeated. Returns ([(k, d, tau) fitted,
    then RESAMPLES refits on residuals resampled in blocks (they wander for hours)], k clear of its standard
    error, the residuals, the block length), or None with too few hours since the onset."""
    t = np.minimum((departure.index.asi8 - now.value) / HOUR_NS, 0.0)
    z = departure.to_numpy(dtype=float)
    onset_h = (onset.value - now.value) / HOUR_NS
    taus = np.arange(max(t[0], onset_h - HINGE_LOOKBACK_H), min(onset_h, -1.0) + 1e-9, 1.0)
    if len(taus) == 0 or (t >= onset_h).sum() < MIN_HOURS:
        return None
    hour = (departure.index.asi8 / HOUR_NS) % 24.0
    daily = [np.ones(len(t))]
    for harmonic in range(1, HARMONICS + 1):
        daily += [np.sin(2 * np.pi * harmonic * hour / 24.0), np.cos(2 * np.pi * harmonic * hour / 24.0)]
    shapes = [(d, tau) for d in (1, 2) for tau in taus]
    designs = [np.column_stack([*daily, _wear(t, 1.0, d, tau)]) for d, tau in shapes]

    def fits(ys: np.ndarray, used: np.ndarray):
        """Per row of `ys`: the best shape's index and coefficients, on the hours `used`."""
        best_rss = np.full(len(ys), np.inf)
        best, coefs = np.zeros(len(ys), dtype=int), np.zeros((len(ys), len(daily) + 1))
        for i, design in enumerate(designs):
            c = ys[:, used] @ np.linalg.pinv(design[used]).T
            rss = ((ys[:, used] - c @ design[used].T) ** 2).sum(axis=1)
            better = rss < best_rss
            best_rss[better], best[better], coefs[better] = rss[better], i, c[better]
        return best, coefs

    used = np.ones(len(z), dtype=bool)
    (best,), (coef,) = fits(z[None, :], used)
    resid = z - designs[best] @ coef
    spread = 1.4826 * np.median(np.abs(resid - np.median(resid)))
    used = np.abs(resid - np.median(resid)) <= OUTLIER_Z * max(spread, 1e-12)
    (best,), (coef,) = fits(z[None, :], used)
    design, fitted = designs[best][used], designs[best] @ coef
    resid = (z - fitted)[used]
    inflation = _inflation(resid)
    cov = float(resid @ resid) / max(len(resid) - design.shape[1], 1) * inflation * np.linalg.pinv(design.T @ design)
    significant = coef[-1] > SLOPE_T * np.sqrt(max(cov[-1, -1], 0.0))
    block = int(np.ceil(inflation))
    scatter = z - fitted  # every hour's, the left-out ones too: the readings to come will have starts and stops
    samples = fitted + np.array([_block_resample(scatter, block, rng) for _ in range(RESAMPLES)])
    picks, refits = fits(samples, used)
    draws = [(coef[-1], *shapes[best])] + [(c[-1], *shapes[i]) for i, c in zip(picks, refits)]
    return draws, bool(significant), scatter, block


def _wear(t, k: float, degree: int, tau: float):
    """The degradation's part of the departure at hours `t`: k * (t - tau)^degree after its start tau."""
    return k * np.clip(t - tau, 0.0, None) ** degree


def _daily_pattern(level: pd.Series, trend, now: pd.Timestamp, ahead: np.ndarray) -> np.ndarray:
    """The tag's level less its trend at the hours `ahead` of `now`: the median by hour of day over `level`,
    raised or lowered to the median over its last day (load and ambient wander over days)."""
    t = np.minimum((level.index.asi8 - now.value) / HOUR_NS, 0.0)
    base = level.to_numpy(dtype=float) - trend(t)
    hour = ((level.index.asi8 / HOUR_NS) % 24.0).astype(int)
    profile = pd.Series(base).groupby(hour).median().reindex(range(24)).interpolate(limit_direction="both")
    profile = profile.to_numpy()
    centres = np.arange(-1, 25) + 0.5  # wrapped around midnight
    values = np.concatenate([[profile[-1]], profile, [profile[0]]])
    recent = t > -24.0
    shift = np.median(base[recent] - np.interp(hour[recent] + 0.5, centres, values))
    return np.interp((now.value / HOUR_NS + ahead) % 24.0, centres, values) + shift


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


def _block_resample(resid: np.ndarray, block: int, rng, size: int | None = None) -> np.ndarray:
    """`size` (default: as many as there are) residuals resampled in blocks of `block` consecutive readings (a
    moving-block bootstrap), so a resample keeps their wander."""
    size = len(resid) if size is None else size
    block = max(1, min(block, len(resid)))
    starts = rng.integers(0, len(resid) - block + 1, size=-(-size // block))
    return np.concatenate([resid[s : s + block] for s in starts])[:size]


def _crossing(coef, limit) -> float | None:
    """The first time after the last reading (t > 0, hours) where the polynomial meets the limit."""
    roots = np.roots(np.polysub(coef, [limit]))
    ahead = [r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0]
    return min(ahead) if ahead else None


def _name(degree: int) -> str:
    return "accelerating" if degree == 2 else "linear"
