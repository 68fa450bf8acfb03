"""The textbook PCA monitor that plant benchmarks compare against: Hotelling T² and Q (SPE) with 99 % limits.

Autoscaled on the baseline (constant tags left out), a fixed number of components or enough for a share of the
variance, the T² limit from the F distribution and the Q limit from Jackson and Mudholkar; a point alarms when
either statistic exceeds its limit. It is a yardstick for the benchmarks, not part of the product.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


class PCAMonitor:
    def __init__(self, variance: float = 0.9, alpha: float = 0.01, components: int | None = None):
        self.variance, self.alpha, self.components = variance, alpha, components

    def fit(self, x: np.ndarray) -> PCAMonitor:
        x = np.asarray(x, dtype=np.float64)
        self.mean_, self.scale_ = x.mean(axis=0), x.std(axis=0, ddof=1)
        self.keep_ = self.scale_ > 1e-12
        u = (x[:, self.keep_] - self.mean_[self.keep_]) / self.scale_[self.keep_]
        n = u.shape[0]
        eigenvalues, vectors = np.linalg.eigh(np.cov(u, rowvar=False))
        eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
        if self.components is not None:
            k = self.components
        else:
            k = int(np.searchsorted(np.cumsum(eigenvalues) / eigenvalues.sum(), self.variance) + 1)
        self.components_, self.eigenvalues_ = vectors[:, :k], eigenvalues[:k]
        self.t2_limit_ = k * (n - 1) * (n + 1) / (n * (n - k)) * stats.f.ppf(1 - self.alpha, k, n - k)
        rest = eigenvalues[k:]
        t1, t2, t3 = rest.sum(), (rest**2).sum(), (rest**3).sum()
        h0 = 1 - 2 * t1 * t3 / (3 * t2**2)
        c = stats.norm.ppf(1 - self.alpha)
        self.q_limit_ = t1 * (c * np.sqrt(2 * t2 * h0**2) / t1 + 1 + t2 * h0 * (h0 - 1) / t1**2) ** (1 / h0)
        return self

    def alarms(self, x: np.ndarray) -> np.ndarray:
        u = (np.asarray(x, dtype=np.float64)[:, self.keep_] - self.mean_[self.keep_]) / self.scale_[self.keep_]
        scores = u @ self.components_
        t2 = (scores**2 / self.eigenvalues_).sum(axis=1)
        q = ((u - scores @ self.components_.T) ** 2).sum(axis=1)
        return (t2 > self.t2_limit_) | (q > self.q_limit_)
