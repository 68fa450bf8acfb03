"""Each tag reconstructed from the others by ridge regression: the overall-model-residual head scores with it,
and the regime model measures with it how far a start-up still is from steady operation."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge

from acm_assets.detectors import rowstable


def fit_reconstruction(x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (column j predicts tag j from the other tags; zero diagonal) and intercepts."""
    p = x.shape[1]
    coef, intercept = np.zeros((p, p)), np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        model = Ridge(alpha=alpha).fit(x[:, others], x[:, j])
        coef[others, j] = model.coef_
        intercept[j] = model.intercept_
    return coef, intercept


def residuals(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return x - rowstable.matmul(x, coef) - intercept
