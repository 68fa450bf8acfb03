"""Raw scores to z, by one rule for every head and for the fused score: out-of-fold quantiles onto
standard-normal quantiles."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

Z_CLIP = 20.0
_PROBS = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998])
MIN_TAIL = 5  # out-of-fold points needed beyond a quantile knot
_TAIL_BASE_Z = norm.ppf(0.9)  # the tails beyond the outer knots take the slope from the outer decile


class Calibrator:
    """Monotone map raw -> z: out-of-fold quantiles onto standard-normal quantiles, a knot wherever at least
    MIN_TAIL points lie beyond it, and straight on beyond the outer knots with the slope of the outer decile.

    The scores it is fitted on come from models that never saw those rows (time-blocked cross-fitting), so
    the map already holds what fresh data does to a head: its wider residuals, its over-fitted densities, its
    heavier tail. On healthy data a calibrated z is then about N(0, 1) whatever the head, run or equipment."""

    def __init__(self, knots_raw: np.ndarray, knots_z: np.ndarray):
        self.knots_raw = np.asarray(knots_raw, dtype=np.float64)
        self.knots_z = np.asarray(knots_z, dtype=np.float64)

    @classmethod
    def fit(cls, raw: np.ndarray, extra_probs=()) -> Calibrator:
        """`extra_probs` adds knots (the fused score's 1 - false_alarm_rate) where the data support them."""
        raw = np.asarray(raw, dtype=np.float64)
        n = raw.size
        probs = np.union1d(_PROBS, np.asarray(extra_probs, dtype=np.float64))
        probs = probs[(n * probs >= MIN_TAIL) & (n * (1 - probs) >= MIN_TAIL)]
        if probs.size < 2:
            probs = np.array([0.25, 0.75])
        qs = np.quantile(raw, probs) if n else np.zeros(probs.size)
        zs = norm.ppf(probs)
        keep_raw, keep_z = [qs[0]], [zs[0]]
        for q, z in zip(qs[1:], zs[1:]):
            if q > keep_raw[-1] + 1e-12 * max(1.0, abs(q)):
                keep_raw.append(q)
                keep_z.append(z)
        if len(keep_raw) < 2:  # a head constant out of fold: any rise above it is news
            spread = 1e-6 * max(1.0, abs(keep_raw[0]))
            keep_raw, keep_z = [keep_raw[0], keep_raw[0] + spread], [0.0, 1.0]
        return cls(np.array(keep_raw), np.array(keep_z))

    def _slopes(self) -> tuple[float, float]:
        """dz/draw of the lower and upper tails (the outer deciles')."""
        kr, kz = self.knots_raw, self.knots_z
        lo = max(int(np.searchsorted(kz, -_TAIL_BASE_Z, side="right")) - 1, 1)
        hi = min(int(np.searchsorted(kz, _TAIL_BASE_Z)), len(kz) - 2)
        return (kz[lo] - kz[0]) / (kr[lo] - kr[0]), (kz[-1] - kz[hi]) / (kr[-1] - kr[hi])

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        kr, kz = self.knots_raw, self.knots_z
        low, high = self._slopes()
        z = np.interp(raw, kr, kz)
        z = np.where(raw < kr[0], kz[0] + (raw - kr[0]) * low, z)
        z = np.where(raw > kr[-1], kz[-1] + (raw - kr[-1]) * high, z)
        return np.clip(z, -5.0, Z_CLIP)

    def inverse(self, z: float) -> float:
        """The raw score that maps to `z`."""
        kr, kz = self.knots_raw, self.knots_z
        low, high = self._slopes()
        if z < kz[0]:
            return float(kr[0] + (z - kz[0]) / low)
        if z > kz[-1]:
            return float(kr[-1] + (z - kz[-1]) / high)
        return float(np.interp(z, kz, kr))

    def to_params(self) -> dict:
        return {"knots_raw": self.knots_raw.tolist(), "knots_z": self.knots_z.tolist()}
