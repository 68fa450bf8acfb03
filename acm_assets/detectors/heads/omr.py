"""Overall model residual: a tag leaving its physical relation to the others."""

from __future__ import annotations

import numpy as np

from acm_assets.detectors.artifacts import ModelType
from acm_assets.detectors.heads.base import SPREAD_FLOOR, Head, out_of_fold_rms
from acm_assets.detectors.reconstruction import fit_reconstruction, residuals


class OMRHead(Head):
    """Each tag reconstructed from the others by ridge regression (`omr_alpha`); each residual in units of what
    the fold models left unexplained on rows they never saw (a tag the others do not explain and that wanders
    on its own keeps its place beside those they do); the largest over tags, the per-tag squares pointing at the
    culprits."""

    model_type = ModelType.omr_model
    heads = ("omr",)

    def fit(self, x, config, context) -> OMRHead:
        self.alpha_ = float(config.omr_alpha)
        self.floor_ = np.maximum(np.asarray(context["value_floor"], dtype=np.float64), SPREAD_FLOOR)
        self.oof_scale_ = np.ones(len(self.tags))
        self.fit_parameters(x)
        return self

    def fit_parameters(self, x):
        self.coef_, self.intercept_ = fit_reconstruction(x, self.alpha_)
        resid = residuals(x, self.coef_, self.intercept_)
        self.resid_mean_ = resid.mean(axis=0)
        self.resid_std_ = np.maximum(resid.std(axis=0), self.floor_)

    def parts(self, x):
        return {"omr": (residuals(x, self.coef_, self.intercept_) - self.resid_mean_) / self.resid_std_}

    def learn_out_of_fold(self, parts):
        self.oof_scale_ = out_of_fold_rms(parts["omr"])
        self.params = {**self.params, "out_of_fold_scale": dict(zip(self.tags, self.oof_scale_.round(4).tolist()))}

    def raw_from(self, parts):
        return {"omr": np.abs(parts["omr"] / self.oof_scale_).max(axis=1)}

    def contributions(self, x):
        r = self.parts(x)["omr"] / self.oof_scale_
        return {"omr": r * r}
