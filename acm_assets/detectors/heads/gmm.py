"""Gaussian mixture on the window spreads: the variability head (stuck, frozen and noisy sensors)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from acm_assets.detectors import rowstable
from acm_assets.detectors.artifacts import ModelType
from acm_assets.detectors.calibration import Calibrator
from acm_assets.detectors.features import FROZEN_DEVIATION
from acm_assets.detectors.heads.base import SPREAD_FLOOR, Head

GMM_FIT_ROWS = 1500  # GaussianMixture fit sample: BIC over k needs several full-covariance fits within 2 s
FULL_COVARIANCE_SAMPLES = 10  # independent spreads per dimension (and component) a full covariance needs


class GMMHead(Head):
    """Gaussian mixture (k by BIC) on the tags' window spreads (`features.spread_deviation`). It sees lost
    variation (stuck or frozen sensors) and extra variation (loose parts, noisy transmitters), and is blind to
    level changes on purpose (the other heads cover levels). Score: the larger of the negative log-likelihood
    as a distance-like sqrt(2 (nll - min training nll)) and one tag's spread deviation, each first mapped to z
    on the out-of-fold rows (the joint distance of many spreads has a typical size of its own, near
    sqrt(tags), against which one tag's clear excursion would never register).

    Overlapping windows make neighbouring rows' spreads near copies: the baseline holds about rows x cadence /
    window independent spreads, and the mixture gets only the covariance those support: full covariances (and
    more components) with FULL_COVARIANCE_SAMPLES independent spreads per dimension and component, else one
    diagonal component. Fold models keep the full fit's components and covariance type."""

    model_type = ModelType.gmm_model
    heads = ("gmm",)

    def fit(self, x, config, context) -> GMMHead:
        self.seed_ = config.seed
        independent = len(x) / max(context["window_rows"], 1.0)
        d = x.shape[1]
        full = independent >= FULL_COVARIANCE_SAMPLES * d
        self.covariance_type_ = "full" if full else "diag"
        most = max(1, min(config.gmm_max_components, int(independent // (FULL_COVARIANCE_SAMPLES * d)))) if full else 1
        u = self._standardise(x)
        best, best_bic = None, np.inf
        for k in range(1, most + 1):
            if len(u) < 20 * k and k > 1:
                break
            gmm = self._mixture(u, k)
            bic = gmm.bic(u)
            if bic < best_bic:
                best, best_bic = gmm, bic
        self._adopt(best, x)
        # undefined spreads (too few readings in the window) are filled at the main component's centre: a
        # coordinate-wise median can sit between components, where the density is low
        self.fill = self.center_ + self.scale_ * self.means_[np.argmax(self.weights_)]
        self.part_calibrators_ = None
        self.params = {
            **self.params,
            "components": int(best.n_components),
            "covariance": "full" if full else "diagonal",
            "independent_spreads": round(float(independent), 1),
            "bic": round(float(best_bic), 3),
        }
        return self

    def fit_parameters(self, x):
        self._adopt(self._mixture(self._standardise(x), len(self.weights_)), x)

    def _standardise(self, x):
        """Robust centre and scale of x, learned here, and x in those units (subsampled for the fit budget)."""
        self.center_ = np.median(x, axis=0)
        spread = 1.4826 * np.median(np.abs(x - self.center_), axis=0)
        self.scale_ = np.where(spread > SPREAD_FLOOR, spread, np.maximum(x.std(axis=0), 1.0))
        u = (x - self.center_) / self.scale_
        return u[np.linspace(0, len(u) - 1, GMM_FIT_ROWS).astype(int)] if len(u) > GMM_FIT_ROWS else u

    def _mixture(self, u, k) -> GaussianMixture:
        # EM capped at 60 iterations and seeded by k-means++ alone (no Lloyd iterations) for the fit budget, which
        # holds one fit per fold: still a density
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GaussianMixture(k, covariance_type=self.covariance_type_, reg_covar=1e-3, max_iter=60,
                                   init_params="k-means++", random_state=self.seed_).fit(u)

    def _adopt(self, gmm: GaussianMixture, x) -> None:
        self.weights_ = gmm.weights_
        self.means_ = gmm.means_
        chol = gmm.precisions_cholesky_
        self.prec_chol_ = chol if self.covariance_type_ == "full" else np.array([np.diag(c) for c in chol])
        self.nll_ref_ = 0.0
        self.nll_ref_ = float(np.min(self._nll(x)))

    def _nll(self, x):
        u = (x - self.center_) / self.scale_
        d = u.shape[1]
        logp = []
        for w, mean, chol in zip(self.weights_, self.means_, self.prec_chol_):
            y = rowstable.matmul(u - mean, chol)
            logdet = float(np.sum(np.log(np.diag(chol))))
            logp.append(-0.5 * (d * np.log(2 * np.pi) + rowstable.row_sumsq(y)) + logdet + np.log(w))
        logp = np.column_stack(logp)
        top = logp.max(axis=1)
        return -(top + np.log(rowstable.row_sum(np.exp(logp - top[:, None]))))

    def parts(self, x):
        """The mixture distance, and the largest spread deviation of one tag (a single noisy or frozen sensor
        is diluted in a joint density). Operating tags (flow, power, current) count too: the spread of first
        differences cancels their demand trends, ramps are transitions, and their transmitters fail as well."""
        joint = np.sqrt(2.0 * np.clip(self._nll(x) - self.nll_ref_, 0.0, None))
        u = (x - self.center_) / self.scale_
        frozen = x <= -FROZEN_DEVIATION + 1e-9  # no change at all over the window: a stuck sensor
        single = np.where(frozen, np.abs(u), u).max(axis=1, initial=0.0)  # calm is no fault
        return {"joint": joint, "single": single}

    def learn_out_of_fold(self, parts):
        self.part_calibrators_ = (Calibrator.fit(parts["joint"]), Calibrator.fit(parts["single"]))
        self.params = {
            **self.params,
            "part_calibration": {n: c.to_params() for n, c in zip(("joint", "single"), self.part_calibrators_)},
        }

    def raw_from(self, parts):
        joint_cal, single_cal = self.part_calibrators_
        return {"gmm": np.maximum(joint_cal(parts["joint"]), single_cal(parts["single"]))}

    def contributions(self, x):
        u = (x - self.center_) / self.scale_
        return {"gmm": u * u}
