"""Each tag reconstructed from the others by ridge regression: the overall-model-residual head scores with it,
and the regime model measures with it how far a start-up still is from steady operation."""

from __future__ import annotations

import numpy as np

from acm_assets.detectors import rowstable


def fit_reconstruction(x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (column j predicts tag j from the other tags; zero diagonal) and intercepts: the ridge
    regression of every tag on the others (scikit-learn's `Ridge(alpha)` with an intercept), all at once.

    With A = Xc'Xc + alpha I over the centred tags and P = inv(A), the ridge coefficients of tag j on the
    others are -P[-j, j] / P[j, j] (the block inverse), so one p x p inverse replaces p solves; cross-fitting
    refits it once per fold."""
    mean = x.mean(axis=0)
    centred = x - mean
    precision = np.linalg.inv(centred.T @ centred + alpha * np.eye(x.shape[1]))
    coef = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(coef, 0.0)
    return coef, mean - mean @ coef


def residuals(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return x - rowstable.matmul(x, coef) - intercept
