"""AR(1) residuals: spikes, noise and sudden jumps of single tags."""

from __future__ import annotations

import numpy as np

from acm_assets.detectors.artifacts import ModelType
from acm_assets.detectors.heads.base import SPREAD_FLOOR, Head, out_of_fold_rms


class AR1Head(Head):
    """Per-tag AR(1) on the pooled-normalised tags, one baseline cadence back; each tag's innovation in units
    of what the fold models left unexplained on rows they never saw; the largest |z| over tags (one noisy or
    spiking sensor is the typical fault, and an RMS over many tags would dilute it). Without a usable previous
    reading (a gap, an OFF row) the prediction falls back to the tag's mean."""

    model_type = ModelType.ar1_params
    heads = ("ar1",)

    def fit(self, x, config, context) -> AR1Head:
        self.floor_ = np.maximum(np.asarray(context["pooled_floor"], dtype=np.float64), SPREAD_FLOOR)
        self.oof_scale_ = np.ones(len(self.tags))
        self.fit_parameters(x)
        return self

    def fit_parameters(self, x):
        p = len(self.tags)
        cur, prev = x[:, :p], x[:, p:]
        has = ~np.isnan(prev)
        self.mu_ = np.nanmean(cur, axis=0)
        self.sigma_u_ = np.maximum(np.nanstd(cur, axis=0), self.floor_)
        phi, sigma = np.zeros(p), np.zeros(p)
        for j in range(p):
            a, b = cur[has[:, j], j] - self.mu_[j], prev[has[:, j], j] - self.mu_[j]
            denom = float(b @ b)
            phi[j] = np.clip(float(a @ b) / denom, -0.999, 0.999) if denom > 0 else 0.0
            resid = a - phi[j] * b
            sigma[j] = np.std(resid) if resid.size > 1 else self.sigma_u_[j]
        self.phi_ = phi
        self.sigma_ = np.maximum(sigma, self.floor_)
        self.params = {**self.params, "phi": dict(zip(self.tags, phi.round(6).tolist()))}

    def inputs(self, matrix):
        p = len(self.tags)
        cur = np.where(np.isnan(matrix[:, :p]), self.fill[:p], matrix[:, :p])
        return np.hstack([cur, matrix[:, p:]])

    def parts(self, x):
        p = len(self.tags)
        cur, prev = x[:, :p] - self.mu_, x[:, p:] - self.mu_
        has = ~np.isnan(prev)
        return {"ar1": np.where(has, (cur - self.phi_ * np.where(has, prev, 0.0)) / self.sigma_, cur / self.sigma_u_)}

    def learn_out_of_fold(self, parts):
        self.oof_scale_ = out_of_fold_rms(parts["ar1"])
        self.params = {**self.params, "out_of_fold_scale": dict(zip(self.tags, self.oof_scale_.round(4).tolist()))}

    def raw_from(self, parts):
        return {"ar1": np.abs(parts["ar1"] / self.oof_scale_).max(axis=1)}

    def contributions(self, x):
        z = self.parts(x)["ar1"] / self.oof_scale_
        return {"ar1": z * z}

