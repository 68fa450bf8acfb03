"""PCA: squared prediction error (broken correlations) and Hotelling T² (an unusual operating point)."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from acm_assets.detectors import rowstable
from acm_assets.detectors.artifacts import ModelType
from acm_assets.detectors.heads.base import SPREAD_FLOOR, Head


class PCAHead(Head):
    """PCA on the regime-normalised tags: T² on the leading components, SPE on the rest.

    Components are kept to `pca_variance` (1 .. tags - 1), but never one whose variance is within the spread
    that pure noise shows at this sample size: for n rows of p tags the noise eigenvalues scatter up to
    (1 + sqrt(p / n))² times the noise level (Marchenko-Pastur), the median eigenvalue standing for the latter.
    T² divides by such a component's variance, an estimate of noise that the next run does not repeat. Fold
    models keep the full fit's number of components."""

    model_type = ModelType.pca_model
    heads = ("pca_spe", "pca_t2")

    def fit(self, x, config, context) -> PCAHead:
        p = x.shape[1]
        pca = PCA(svd_solver="full").fit(x)
        k = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), config.pca_variance) + 1)
        edge = float(np.median(pca.explained_variance_)) * (1.0 + np.sqrt(p / len(x))) ** 2
        k = min(k, int(np.sum(pca.explained_variance_ > edge)))
        self.k_ = min(max(k, 1), max(p - 1, 1))
        self.fit_parameters(x, pca)
        self.params = {
            **self.params,
            "components": self.k_,
            "explained_variance": round(float(pca.explained_variance_ratio_[: self.k_].sum()), 6),
            "noise_edge": round(edge, 6),
        }
        return self

    def fit_parameters(self, x, pca=None):
        pca = pca if pca is not None else PCA(svd_solver="full").fit(x)
        self.mean_ = pca.mean_
        self.components_ = pca.components_[: self.k_]
        self.variance_ = np.maximum(pca.explained_variance_[: self.k_], SPREAD_FLOOR)
        self.resid_var_ = np.maximum(self._residual(x).var(axis=0), SPREAD_FLOOR)

    def _residual(self, x):
        centred = x - self.mean_
        scores = rowstable.matmul(centred, self.components_.T)
        return centred - rowstable.matmul(scores, self.components_)

    def parts(self, x):
        centred = x - self.mean_
        scores = rowstable.matmul(centred, self.components_.T)
        resid = centred - rowstable.matmul(scores, self.components_)
        return {
            "pca_spe": np.sqrt(rowstable.row_sumsq(resid)),
            "pca_t2": np.sqrt(rowstable.row_sumsq(scores / np.sqrt(self.variance_))),
        }

    def contributions(self, x):
        resid = self._residual(x)
        return {"pca_spe": resid * resid / self.resid_var_}
