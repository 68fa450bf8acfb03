"""Held-out calibration: raw head scores to z, and the fused score to the configured false-alarm rate."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from acm_assets.detectors.errors import ArtifactMismatchError

Z_CLIP = 20.0
_PROBS = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998])
_MIN_TAIL = 5  # held-out points needed beyond a quantile knot
_TAIL_BASE_Z = norm.ppf(0.9)  # the extrapolation beyond the outer knots takes the slope from here
MIN_COMMON_HOLDOUT = 50


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

    def __init__(self, heads, weights, median, upper, alert_z, power):
        self.heads = tuple(heads)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.median = float(median)
        self.upper = float(upper)
        self.alert_z = float(alert_z)
        self.power = float(power)
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
        if common.size < max(MIN_COMMON_HOLDOUT, smallest // 2):
            names = sorted({owners[h] for h in heads})
            raise ArtifactMismatchError(
                f"artifacts {names} share only {common.size} held-out timestamps (of {smallest}): they were "
                "fitted on different baselines; re-fit them together"
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
        upper = _tail_quantile(raw, 1.0 - config.false_alarm_rate)
        if upper <= median:
            upper = median + 1e-6
        return cls(heads, weights, median, upper, config.alert_z, config.fusion_power)

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
        }


def _tail_quantile(raw: np.ndarray, p: float) -> float:
    """The p-quantile; with too few points beyond it, extrapolated from a lower quantile (normal tail)."""
    n = raw.size
    if n * (1.0 - p) >= _MIN_TAIL:
        return float(np.quantile(raw, p))
    p_low = max(1.0 - _MIN_TAIL / n, 0.75)
    median = float(np.median(raw))
    q_low = float(np.quantile(raw, p_low))
    return median + (q_low - median) * norm.ppf(p) / norm.ppf(p_low)
