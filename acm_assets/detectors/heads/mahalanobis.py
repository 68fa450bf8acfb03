"""Mahalanobis distance: how unusual the operating point is, all tags jointly."""

from __future__ import annotations

import numpy as np
from sklearn.covariance import LedoitWolf

from acm_assets.detectors import rowstable
from acm_assets.detectors.artifacts import ModelType
from acm_assets.detectors.heads.base import Head


class MahalanobisHead(Head):
    """Mahalanobis distance on the regime-normalised independent tags (one of each redundant group; never on
    collinear engineered features) with a Ledoit-Wolf shrinkage covariance, shrunk further towards its mean
    variance where needed to keep the condition number within `mhal_max_condition`: a collinearity the
    grouping did not catch lowers the head's resolution in that direction instead of failing the fit."""

    model_type = ModelType.mhal_params
    heads = ("mhal",)

    def fit(self, x, config, context) -> MahalanobisHead:
        self.max_condition_ = float(config.mhal_max_condition)
        self.tag_index_ = np.array([self.tags.index(tag) for _, tag in self.columns])
        self.fit_parameters(x)
        return self

    def fit_parameters(self, x):
        raw_condition = float(np.linalg.cond(np.cov(x, rowvar=False)))
        lw = LedoitWolf().fit(x)
        covariance, shrinkage = lw.covariance_, float(lw.shrinkage_)
        eig = np.linalg.eigvalsh(covariance)
        limit = self.max_condition_
        if eig[-1] > limit * eig[0]:
            # (1 - a) C + a mu I has condition number (l_max (1 - a) + a mu) / (l_min (1 - a) + a mu)
            mu = float(np.trace(covariance)) / len(covariance)
            a = (eig[-1] - limit * eig[0]) / ((limit - 1.0) * mu + eig[-1] - limit * eig[0])
            covariance = (1.0 - a) * covariance + a * mu * np.eye(len(covariance))
            shrinkage = 1.0 - (1.0 - shrinkage) * (1.0 - a)
        self.location_ = lw.location_
        self.precision_ = np.linalg.inv(covariance)
        self.params = {
            **self.params,
            "condition_number": round(raw_condition, 3) if np.isfinite(raw_condition) else None,
            "shrunk_condition_number": round(float(np.linalg.cond(covariance)), 3),
            "shrinkage": round(shrinkage, 6),
        }

    def _terms(self, x):
        centred = x - self.location_
        return centred, rowstable.matmul(centred, self.precision_)

    def parts(self, x):
        centred, weighted = self._terms(x)
        return {"mhal": np.sqrt(np.clip(rowstable.row_sum(centred * weighted), 0.0, None))}

    def contributions(self, x):
        centred, weighted = self._terms(x)
        out = np.zeros((len(x), len(self.tags)))
        out[:, self.tag_index_] = np.clip(centred * weighted, 0.0, None)
        return {"mhal": out}
