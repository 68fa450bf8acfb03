"""Held-out calibration: raw head scores to z, and the fused score to the configured false-alarm rate."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from acm_assets.detectors.errors import ArtifactMismatchError, DetectorFitError

Z_CLIP = 20.0
_PROBS = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998])
_MIN_TAIL = 5  # held-out points needed beyond a quantile knot
MIN_EXCESS = 10  # points an extrapolated tail is fitted to
_TAIL_BASE_Z = norm.ppf(0.9)  # the extrapolation beyond the outer knots takes the slope from here
MIN_HOLDOUT = 20  # held-out points the fusion needs at least (a 100-row baseline holds out 20)


class Calibrator:
    """Monotone map raw -> z: held-out quantiles onto standard-normal quantiles, linear beyond the ends with
    the slope of the outer decile (the 0.9 knot to the last one): the last two knots hold only a handful of
    held-out points, and a steep slope between them would inflate every z beyond (a head calibrated twice, as
    the variability head is, would compound it).

    On healthy data a calibrated z is then about N(0, 1) whatever the head, run or equipment.
    """

    def __init__(self, knots_raw: np.ndarray, knots_z: np.ndarray):
        self.knots_raw = np.asarray(knots_raw, dtype=np.float64)
        self.knots_z = np.asarray(knots_z, dtype=np.float64)

    @classmethod
    def fit(cls, raw: np.ndarray) -> Calibrator:
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
        return cls(np.array(keep_raw), np.array(keep_z))

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        kr, kz = self.knots_raw, self.knots_z
        z = np.interp(raw, kr, kz)
        hi = min(int(np.searchsorted(kz, _TAIL_BASE_Z)), len(kz) - 2)
        lo = max(int(np.searchsorted(kz, -_TAIL_BASE_Z, side="right")) - 1, 1)
        hi_slope = (kz[-1] - kz[hi]) / (kr[-1] - kr[hi])
        lo_slope = (kz[lo] - kz[0]) / (kr[lo] - kr[0])
        z = np.where(raw > kr[-1], kz[-1] + (raw - kr[-1]) * hi_slope, z)
        z = np.where(raw < kr[0], kz[0] + (raw - kr[0]) * lo_slope, z)
        return np.clip(z, -5.0, Z_CLIP)

    def to_params(self) -> dict:
        return {"knots_raw": self.knots_raw.tolist(), "knots_z": self.knots_z.tolist()}


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
    interpolation: an exponential tail is fitted to the top decile (at least MIN_EXCESS points; scores built
    from maxima and sums of squares have tails no heavier than that) and extrapolated to `alpha`, never below
    the conformal rank bound, the ceil((n + 1)(1 - alpha))-th smallest point, which a new exchangeable point
    exceeds with probability at most `alpha`; when n is too small for that rank to exist, never below the
    largest held-out point."""
    values = np.sort(np.asarray(raw, dtype=np.float64))
    n = values.size
    if n * alpha >= _MIN_TAIL:
        return float(np.quantile(values, 1.0 - alpha)), "empirical quantile"
    m = min(max(MIN_EXCESS, int(np.ceil(0.1 * n))), n - 1)
    u = values[n - m - 1]
    fitted = u + float(np.mean(values[n - m :] - u)) * np.log(m / ((n + 1) * alpha))
    rank = int(np.ceil((n + 1) * (1.0 - alpha)))
    floor, floor_method = (values[rank - 1], f"conformal rank {rank} of {n}") if rank <= n else (
        values[-1], f"largest of {n} held-out points")
    if fitted >= floor:
        return float(fitted), f"exponential tail over the top {m} of {n} held-out points"
    return float(floor), floor_method
