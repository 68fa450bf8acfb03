"""Held-out calibration: raw head scores to z, and the fused score to the configured false-alarm rate."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import norm

from acm_assets.detectors.errors import ArtifactMismatchError, DetectorFitError

Z_CLIP = 20.0
_PROBS = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998])
_MIN_TAIL = 5  # held-out points needed beyond a quantile knot
MIN_EXCESS = 10  # points an extrapolated tail is fitted to
_TAIL_BASE_Z = norm.ppf(0.9)  # the extrapolation beyond the outer knots takes the slope from here
_LOG_P_FLOOR = np.log(1e-300)
MIN_HOLDOUT = 20  # held-out points the fusion needs at least (a 100-row baseline holds out 20)


class Calibrator:
    """Monotone map raw -> z: held-out quantiles onto standard-normal quantiles. Below the lowest knot, linear
    with the slope of the outer decile. Above the highest knot, the tail the held-out slice shows: an
    exponential tail (peaks over threshold, `tail_scale` from the median excess over the top decile), so a
    head whose held-out scores run far above their 90th percentile (a slowly wandering tag, a heavy-tailed
    sensor) maps its own held-out extremes to the z their rank says, not to the z a straight line through the
    last knots would: with a 100-point slice a line through two knots turned a held-out point at five times
    the decile into z 15, and the fused threshold followed it.

    A raw score that is already a calibrated z (the variability head's larger part) keeps a linear tail with the
    slope of the outer decile instead (`tail_scale` 0): a second exponential tail would compress it twice.

    On healthy data a calibrated z is then about N(0, 1) whatever the head, run or equipment.
    """

    def __init__(self, knots_raw: np.ndarray, knots_z: np.ndarray, tail_scale: float):
        self.knots_raw = np.asarray(knots_raw, dtype=np.float64)
        self.knots_z = np.asarray(knots_z, dtype=np.float64)
        self.tail_scale = float(tail_scale)

    @classmethod
    def fit(cls, raw: np.ndarray, *, exponential_tail: bool = True) -> Calibrator:
        raw = np.asarray(raw, dtype=np.float64)
        n = raw.size
        probs = _PROBS[(n * _PROBS >= _MIN_TAIL) & (n * (1 - _PROBS) >= _MIN_TAIL)]
        if probs.size < 2:
            probs = np.array([0.25, 0.75])
        qs = np.quantile(raw, probs)
        zs = norm.ppf(probs)
        keep_raw, keep_z = [qs[0]], [zs[0]]
        for q, z in zip(qs[1:], zs[1:]):
            if q > keep_raw[-1] + 1e-12 * max(1.0, abs(q)):
                keep_raw.append(q)
                keep_z.append(z)
        if len(keep_raw) < 2:  # a head constant on the held-out slice: any rise above it is news
            spread = 1e-6 * max(1.0, abs(keep_raw[0]))
            keep_raw, keep_z = [keep_raw[0], keep_raw[0] + spread], [0.0, 1.0]
        return cls(np.array(keep_raw), np.array(keep_z), _tail_scale(raw) if exponential_tail else 0.0)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        kr, kz = self.knots_raw, self.knots_z
        z = np.interp(raw, kr, kz)
        lo = max(int(np.searchsorted(kz, -_TAIL_BASE_Z, side="right")) - 1, 1)
        lo_slope = (kz[lo] - kz[0]) / (kr[lo] - kr[0])
        z = np.where(raw < kr[0], kz[0] + (raw - kr[0]) * lo_slope, z)
        above = raw > kr[-1]
        if above.any() and self.tail_scale > 0:
            log_p = np.log(ndtr(-kz[-1])) - (raw[above] - kr[-1]) / self.tail_scale
            z[above] = -ndtri(np.exp(np.maximum(log_p, _LOG_P_FLOOR)))
        elif above.any():
            hi = min(int(np.searchsorted(kz, _TAIL_BASE_Z)), len(kz) - 2)
            z[above] = kz[-1] + (raw[above] - kr[-1]) * (kz[-1] - kz[hi]) / (kr[-1] - kr[hi])
        return np.clip(z, -5.0, Z_CLIP)

    def to_params(self) -> dict:
        return {"knots_raw": self.knots_raw.tolist(), "knots_z": self.knots_z.tolist(), "tail_scale": self.tail_scale}


def _tail_scale(raw: np.ndarray) -> float:
    """Scale of an exponential tail over the top decile (at least MIN_EXCESS points): the median excess over
    its threshold / ln 2, so a few extreme held-out points do not set it. 0 (a linear tail) when the top is
    flat."""
    values = np.sort(raw)
    n = values.size
    if n < 3:
        return 0.0
    m = min(max(MIN_EXCESS, int(np.ceil(0.1 * n))), n - 1)
    return float(np.median(values[n - m :] - values[n - m - 1])) / np.log(2.0)


LEVEL_HEADS = ("pca_t2", "mhal", "iforest")
VARIABILITY_HEADS = ("gmm",)


class Fusion:
    """Weighted power mean (`fusion_power`) of the heads' positive z, calibrated on the held-out slice so
    that P(fused_z >= alert) is about the configured false-alarm rate.

    Weights are the configured ones divided by (1 + summed positive correlation with the other heads on the
    held-out slice), so heads that see the same thing do not vote several times. The level heads (T²,
    Mahalanobis, isolation forest) only measure how unusual the operating point is; a level excursion
    counts only as far as a residual or variability head (AR, SPE, OMR, GMM) corroborates it, so weather or
    an unseen-but-consistent load pattern does not raise episodes on its own (it is flagged `novel`).
    """

    def __init__(self, heads, weights, median, upper, alert_z, power, method=""):
        self.heads = tuple(heads)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.median = float(median)
        self.upper = float(upper)
        self.alert_z = float(alert_z)
        self.power = float(power)
        self.method = method  # how the alert threshold was set from the held-out slice
        self.level_ = [j for j, h in enumerate(self.heads) if h in LEVEL_HEADS]
        self.residual_ = [j for j, h in enumerate(self.heads) if h not in LEVEL_HEADS + VARIABILITY_HEADS]

    @classmethod
    def fit(cls, holdouts: dict, owners: dict, config) -> Fusion:
        """`holdouts`: head -> (int64 ns times, float z); `owners`: head -> artifact name for errors."""
        heads = [h for h in holdouts if config.weight(h) > 0]
        common = None
        for head in heads:
            times = holdouts[head][0]
            common = times if common is None else np.intersect1d(common, times, assume_unique=True)
        smallest = min(len(holdouts[h][0]) for h in heads)
        names = sorted({owners[h] for h in heads})
        if common.size < smallest // 2:
            raise ArtifactMismatchError(
                f"artifacts {names} share only {common.size} held-out timestamps (of {smallest}): they were "
                "fitted on different baselines; re-fit them together"
            )
        if common.size < MIN_HOLDOUT:
            raise DetectorFitError(
                f"artifacts {names} hold out only {common.size} baseline points for calibration; at least "
                f"{MIN_HOLDOUT} are needed: use a longer baseline or a larger holdout_fraction"
            )
        z = np.column_stack([holdouts[h][1][np.searchsorted(holdouts[h][0], common)] for h in heads])
        z = z.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.nan_to_num(np.corrcoef(z, rowvar=False)) if len(heads) > 1 else np.ones((1, 1))
        np.fill_diagonal(corr, 0.0)
        overlap = np.clip(corr, 0.0, 1.0).sum(axis=1)
        weights = np.array([config.weight(h) for h in heads]) / (1.0 + overlap)
        fusion = cls(heads, weights, 0.0, 1.0, config.alert_z, config.fusion_power)
        raw = fusion.raw(z)
        median = float(np.median(raw))
        upper, method = tail_threshold(raw, config.false_alarm_rate)
        if upper <= median:
            upper = median + 1e-6
        return cls(heads, weights, median, upper, config.alert_z, config.fusion_power, method)

    def raw(self, z: np.ndarray) -> np.ndarray:
        positive = np.clip(z, 0.0, None)
        if self.level_ and self.residual_:
            corroboration = positive[:, self.residual_].max(axis=1)
            positive[:, self.level_] = np.minimum(positive[:, self.level_], corroboration[:, None])
        total = np.zeros(z.shape[0])
        for j, w in enumerate(self.weights):
            total += w * positive[:, j] ** self.power
        return (total / self.weights.sum()) ** (1.0 / self.power)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return (self.raw(z) - self.median) / (self.upper - self.median) * self.alert_z

    def to_params(self) -> dict:
        return {
            "weights": dict(zip(self.heads, self.weights.round(6).tolist())),
            "power": self.power,
            "median": self.median,
            "upper": self.upper,
            "threshold_method": self.method,
        }


def tail_threshold(raw: np.ndarray, alpha: float) -> tuple[float, str]:
    """A threshold that a new healthy point exceeds with probability about `alpha`, and the method that set it.

    With at least MIN_TAIL held-out points beyond it, the empirical quantile. Fewer cannot support the tail by
    interpolation. Peaks over threshold instead: an exponential tail over the top decile (at least MIN_EXCESS
    points; scores built from maxima and sums of squares have tails no heavier than that) with a robust scale
    (the median excess / ln 2, so one contaminated held-out point cannot set the threshold), extrapolated to
    `alpha`. Never below the conformal rank bound, the ceil((n + 1)(1 - alpha))-th smallest point, which a new
    exchangeable point exceeds with probability at most `alpha`, where that rank leaves out the largest
    point (n >= 2 / alpha - 1)."""
    values = np.sort(np.asarray(raw, dtype=np.float64))
    n = values.size
    if n * alpha >= _MIN_TAIL:
        return float(np.quantile(values, 1.0 - alpha)), "empirical quantile"
    m = min(max(MIN_EXCESS, int(np.ceil(0.1 * n))), n - 1)
    u = values[n - m - 1]
    scale = float(np.median(values[n - m :] - u)) / np.log(2.0)
    fitted = u + scale * np.log(m / ((n + 1) * alpha))
    rank = int(np.ceil((n + 1) * (1.0 - alpha)))
    if rank < n and values[rank - 1] > fitted:
        return float(values[rank - 1]), f"conformal rank {rank} of {n} held-out points"
    return float(fitted), f"exponential tail over the top {m} of {n} held-out points"
