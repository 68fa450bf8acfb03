"""The seven scoring heads in six artifacts. Each is fitted on the baseline's training rows, calibrated on
its held-out slice, and scores with plain numpy (row-stable products) from the arrays it stores, so a reload
scores bit-identically and the artifact stays small (no pickled scikit-learn estimators)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from acm_assets.detectors import rowstable
from acm_assets.detectors.artifacts import Artifact, ModelType
from acm_assets.detectors.calibration import Calibrator
from acm_assets.detectors.errors import DetectorFitError
from acm_assets.detectors.features import FROZEN_DEVIATION
from acm_assets.detectors.reconstruction import fit_reconstruction, residuals

_FOREST_CHUNK = 4096
GMM_FIT_ROWS = 1500  # GaussianMixture fit sample: BIC over k needs several full-covariance fits within 2 s
FULL_COVARIANCE_SAMPLES = 10  # independent spreads per dimension (and component) a full covariance needs
_SPREAD_FLOOR = 1e-6


class HeadArtifact(Artifact):
    """A head: input columns (feature names), the regime scaler it was trained under, calibrators, and the
    calibrated held-out z (float32) with their timestamps, from which the fusion is calibrated."""

    heads: tuple[str, ...] = ()

    def __init__(self, *, columns, scaler, fill, **base):
        super().__init__(**base)
        self.columns = tuple(tuple(c) for c in columns)  # (kind, tag) feature pairs
        self.scaler = scaler  # {"centers": ..., "scales": ..., "fingerprint": regime_model fingerprint}
        self.fill = np.asarray(fill, dtype=np.float64)
        self.calibrators: dict[str, Calibrator] = {}
        self.holdout_times = np.zeros(0, dtype=np.int64)
        self.holdout_z: dict[str, np.ndarray] = {}

    def inputs(self, matrix: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(matrix), self.fill, matrix)

    def raw(self, x: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def contributions(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-head, per-tag non-negative contributions in standardised squared units (tags order)."""
        return {}

    def z(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {head: self.calibrators[head](raw) for head, raw in self.raw(x).items()}

    def calibrate(self, x_holdout: np.ndarray, times: np.ndarray, *, exponential_tail: bool = True) -> None:
        for head, raw in self.raw(x_holdout).items():
            self.calibrators[head] = Calibrator.fit(raw, exponential_tail=exponential_tail)
        self.holdout_times = np.asarray(times, dtype=np.int64)
        self.holdout_z = {head: z.astype(np.float32) for head, z in self.z(x_holdout).items()}
        self.params = {
            **self.params,
            "holdout_rows": int(len(times)),
            "calibration": {head: c.to_params() for head, c in self.calibrators.items()},
        }


class AR1Head(HeadArtifact):
    """Per-tag AR(1) on the pooled-normalised tags; residual z per tag, combined as the largest |z| (one
    noisy or spiking sensor is the typical fault, and an RMS over many tags would dilute it). After a gap
    longer than `ar_max_gap` (or an OFF row) the prediction falls back to the tag's mean."""

    model_type = ModelType.ar1_params
    heads = ("ar1",)

    def fit(self, x: np.ndarray) -> AR1Head:
        p = len(self.tags)
        cur, prev = x[:, :p], x[:, p:]
        has = ~np.isnan(prev)
        self.mu_ = np.nanmean(cur, axis=0)
        self.sigma_u_ = np.maximum(np.nanstd(cur, axis=0), _SPREAD_FLOOR)
        phi, sigma = np.zeros(p), np.zeros(p)
        for j in range(p):
            a, b = cur[has[:, j], j] - self.mu_[j], prev[has[:, j], j] - self.mu_[j]
            denom = float(b @ b)
            phi[j] = np.clip(float(a @ b) / denom, -0.999, 0.999) if denom > 0 else 0.0
            resid = a - phi[j] * b
            sigma[j] = np.std(resid) if resid.size > 1 else self.sigma_u_[j]
        self.phi_ = phi
        self.sigma_ = np.maximum(sigma, _SPREAD_FLOOR)
        self.params = {**self.params, "phi": dict(zip(self.tags, phi.round(6).tolist()))}
        return self

    def inputs(self, matrix: np.ndarray) -> np.ndarray:
        p = len(self.tags)
        cur = np.where(np.isnan(matrix[:, :p]), self.fill[:p], matrix[:, :p])
        return np.hstack([cur, matrix[:, p:]])

    def calibrate(self, x_holdout, times, **kwargs):
        """Innovation scales widened to the held-out slice's where wider (see `out_of_time`)."""
        p = len(self.tags)
        cur, prev = x_holdout[:, :p] - self.mu_, x_holdout[:, p:] - self.mu_
        self.sigma_ = out_of_time(self.sigma_, np.where(np.isnan(prev), np.nan, cur - self.phi_ * prev))
        super().calibrate(x_holdout, times, **kwargs)

    def _tag_z(self, x: np.ndarray) -> np.ndarray:
        p = len(self.tags)
        cur, prev = x[:, :p] - self.mu_, x[:, p:] - self.mu_
        has = ~np.isnan(prev)
        return np.where(has, (cur - self.phi_ * np.where(has, prev, 0.0)) / self.sigma_, cur / self.sigma_u_)

    def raw(self, x):
        return {"ar1": np.abs(self._tag_z(x)).max(axis=1)}

    def contributions(self, x):
        z = self._tag_z(x)
        return {"ar1": z * z}


class PCAHead(HeadArtifact):
    """PCA on the normalised tags: Hotelling T² on the leading components, SPE on the rest.

    Components are kept to `pca_variance` (1 .. tags - 1), but never one whose variance is within the spread
    that pure noise shows at this sample size: for n rows of p tags the noise eigenvalues scatter up to
    (1 + sqrt(p / n))² times the noise level (Marchenko-Pastur), the median eigenvalue standing for the latter.
    Such a component's variance is an estimate of noise that the next run does not repeat, and T² divides by
    it: on a 500-row baseline of 50 tags, 90 % of the variance took 21-23 components whose last had a variance
    of 0.5, and T² was at alert on 40 % of a second healthy run."""

    model_type = ModelType.pca_model
    heads = ("pca_spe", "pca_t2")

    def fit(self, x: np.ndarray, variance: float, seed: int) -> PCAHead:
        p = x.shape[1]
        pca = PCA(svd_solver="full", random_state=seed).fit(x)
        k = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), variance) + 1)
        edge = float(np.median(pca.explained_variance_)) * (1.0 + np.sqrt(p / len(x))) ** 2
        k = min(k, int(np.sum(pca.explained_variance_ > edge)))
        k = min(max(k, 1), max(p - 1, 1))
        self.mean_ = pca.mean_
        self.components_ = pca.components_[:k]
        self.variance_ = np.maximum(pca.explained_variance_[:k], _SPREAD_FLOOR)
        resid = self._residual(x)
        self.resid_var_ = np.maximum(resid.var(axis=0), _SPREAD_FLOOR)
        self.params = {
            **self.params,
            "components": k,
            "explained_variance": round(float(pca.explained_variance_ratio_[:k].sum()), 6),
            "noise_edge": round(edge, 6),
        }
        return self

    def _residual(self, x):
        centred = x - self.mean_
        scores = rowstable.matmul(centred, self.components_.T)
        return centred - rowstable.matmul(scores, self.components_)

    def raw(self, x):
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


class MahalanobisHead(HeadArtifact):
    """Mahalanobis distance on the normalised independent tags (one of each redundant group; never on
    collinear engineered features) with a Ledoit-Wolf shrinkage covariance, shrunk further towards its mean
    variance where needed to keep the condition number within `mhal_max_condition`: a collinearity the
    grouping did not catch (a tag that is a combination of several) lowers the head's resolution in that
    direction instead of failing the fit. Both condition numbers and the shrinkage are recorded."""

    model_type = ModelType.mhal_params
    heads = ("mhal",)

    def fit(self, x: np.ndarray, max_condition: float) -> MahalanobisHead:
        raw_condition = float(np.linalg.cond(np.cov(x, rowvar=False)))
        lw = LedoitWolf().fit(x)
        covariance, shrinkage = lw.covariance_, float(lw.shrinkage_)
        eig = np.linalg.eigvalsh(covariance)
        if eig[-1] > max_condition * eig[0]:
            # (1 - a) C + a mu I has condition number (l_max (1 - a) + a mu) / (l_min (1 - a) + a mu)
            mu = float(np.trace(covariance)) / len(covariance)
            a = (eig[-1] - max_condition * eig[0]) / ((max_condition - 1.0) * mu + eig[-1] - max_condition * eig[0])
            covariance = (1.0 - a) * covariance + a * mu * np.eye(len(covariance))
            shrinkage = 1.0 - (1.0 - shrinkage) * (1.0 - a)
        self.location_ = lw.location_
        self.precision_ = np.linalg.inv(covariance)
        self.tag_index_ = np.array([self.tags.index(tag) for _, tag in self.columns])
        self.params = {
            **self.params,
            "condition_number": round(raw_condition, 3) if np.isfinite(raw_condition) else None,
            "shrunk_condition_number": round(float(np.linalg.cond(covariance)), 3),
            "shrinkage": round(shrinkage, 6),
        }
        return self

    def _parts(self, x):
        centred = x - self.location_
        return centred, rowstable.matmul(centred, self.precision_)

    def raw(self, x):
        centred, weighted = self._parts(x)
        return {"mhal": np.sqrt(np.clip(rowstable.row_sum(centred * weighted), 0.0, None))}

    def contributions(self, x):
        centred, weighted = self._parts(x)
        out = np.zeros((len(x), len(self.tags)))
        out[:, self.tag_index_] = np.clip(centred * weighted, 0.0, None)
        return {"mhal": out}


class OMRHead(HeadArtifact):
    """Overall model residual: each tag reconstructed from the others by ridge regression; the largest
    standardised residual (a single sensor leaving its physical relation to the others is the typical
    fault); the per-tag squares point at the culprits."""

    model_type = ModelType.omr_model
    heads = ("omr",)

    def fit(self, x: np.ndarray, alpha: float) -> OMRHead:
        self.coef_, self.intercept_ = fit_reconstruction(x, alpha)
        resid = residuals(x, self.coef_, self.intercept_)
        self.resid_mean_ = resid.mean(axis=0)
        self.resid_std_ = np.maximum(resid.std(axis=0), _SPREAD_FLOOR)
        self.params = {**self.params, "resid_std": dict(zip(self.tags, self.resid_std_.round(6).tolist()))}
        return self

    def calibrate(self, x_holdout, times, **kwargs):
        """Residual scales widened to the held-out slice's where wider (see `out_of_time`)."""
        held = residuals(x_holdout, self.coef_, self.intercept_) - self.resid_mean_
        self.resid_std_ = out_of_time(self.resid_std_, held)
        super().calibrate(x_holdout, times, **kwargs)

    def _std_resid(self, x):
        return (residuals(x, self.coef_, self.intercept_) - self.resid_mean_) / self.resid_std_

    def raw(self, x):
        return {"omr": np.abs(self._std_resid(x)).max(axis=1)}

    def contributions(self, x):
        r = self._std_resid(x)
        return {"omr": r * r}


class GMMHead(HeadArtifact):
    """Gaussian mixture (k by BIC) on the tags' window spreads (`features.spread_deviation`): the variability head.
    It sees lost variation (stuck or frozen sensors) and extra variation (loose parts, noisy transmitters),
    and is blind to level changes on purpose (the other heads cover levels). Score: the larger of the
    negative log-likelihood as a distance-like sqrt(2 (nll - min training nll)) and one tag's spread
    deviation, each first calibrated on the held-out slice.

    Overlapping windows make neighbouring rows' spreads near copies: the baseline holds about rows x cadence
    / window independent spreads, and a mixture gets only the covariance those support: full covariances
    (and more components) with FULL_COVARIANCE_SAMPLES independent spreads per dimension and component, else
    one diagonal component (a 500-row baseline with 75-minute windows has some 16 independent spreads of 50
    tags: a full covariance fitted to them scored a second healthy run of the same plant far out)."""

    model_type = ModelType.gmm_model
    heads = ("gmm",)

    def fit(self, x: np.ndarray, max_components: int, seed: int, window_rows: float) -> GMMHead:
        self.center_ = np.median(x, axis=0)
        spread = 1.4826 * np.median(np.abs(x - self.center_), axis=0)
        self.scale_ = np.where(spread > _SPREAD_FLOOR, spread, np.maximum(x.std(axis=0), 1.0))
        u = (x - self.center_) / self.scale_
        if len(u) > GMM_FIT_ROWS:
            u = u[np.linspace(0, len(u) - 1, GMM_FIT_ROWS).astype(int)]
        independent = len(x) / max(window_rows, 1.0)
        d = x.shape[1]
        full = independent >= FULL_COVARIANCE_SAMPLES * d
        most = max(1, min(max_components, int(independent // (FULL_COVARIANCE_SAMPLES * d)))) if full else 1
        best, best_bic = None, np.inf
        for k in range(1, most + 1):
            if len(u) < 20 * k:
                break
            with warnings.catch_warnings():  # EM capped at 60 iterations for the fit budget: still a density
                warnings.simplefilter("ignore", ConvergenceWarning)
                gmm = GaussianMixture(k, covariance_type="full" if full else "diag", reg_covar=1e-3, max_iter=60,
                                      random_state=seed).fit(u)
            bic = gmm.bic(u)
            if bic < best_bic:
                best, best_bic = gmm, bic
        self.weights_ = best.weights_
        self.means_ = best.means_
        chol = best.precisions_cholesky_
        self.prec_chol_ = chol if full else np.array([np.diag(c) for c in chol])
        # undefined spreads (too few readings in the window) are filled at the main component's centre: a
        # coordinate-wise median can sit between components, where the density is low
        self.fill = self.center_ + self.scale_ * self.means_[np.argmax(self.weights_)]
        self.nll_ref_ = 0.0
        self.nll_ref_ = float(np.min(self._nll(x)))
        self.params = {
            **self.params,
            "components": int(best.n_components),
            "covariance": "full" if full else "diagonal",
            "independent_spreads": round(float(independent), 1),
            "bic": round(float(best_bic), 3),
        }
        return self

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

    def _parts(self, x):
        """The mixture distance, and the largest spread deviation of one tag (a single noisy or frozen sensor
        is diluted in a joint density). Operating tags (flow, power, current) count too: the spread of first
        differences cancels their demand trends, ramps are transitions, and their transmitters fail as well."""
        joint = np.sqrt(2.0 * np.clip(self._nll(x) - self.nll_ref_, 0.0, None))
        u = (x - self.center_) / self.scale_
        frozen = x <= -FROZEN_DEVIATION + 1e-9  # no change at all over the window: a stuck sensor
        single = np.where(frozen, np.abs(u), u).max(axis=1, initial=0.0)  # calm is no fault
        return joint, single

    def calibrate(self, x_holdout, times):
        """Each part is first mapped to z on the held-out slice: the joint distance of many spreads has a
        typical size and tail of its own (a chi-like value near sqrt(tags)), against which one tag's clear
        spread excursion would never register if the two raw values were compared directly."""
        joint, single = self._parts(x_holdout)
        self.part_calibrators_ = (Calibrator.fit(joint), Calibrator.fit(single))
        super().calibrate(x_holdout, times, exponential_tail=False)
        self.params = {
            **self.params,
            "part_calibration": {n: c.to_params() for n, c in zip(("joint", "single"), self.part_calibrators_)},
        }

    def raw(self, x):
        """The larger of the two parts, each in held-out z."""
        (joint_cal, single_cal), (joint, single) = self.part_calibrators_, self._parts(x)
        return {"gmm": np.maximum(joint_cal(joint), single_cal(single))}

    def contributions(self, x):
        u = (x - self.center_) / self.scale_
        return {"gmm": u * u}


class IForestHead(HeadArtifact):
    """IsolationForest (fixed seed) on the normalised tags and their window log-spreads, stored as complete
    binary trees of depth log2(max_samples): int16 features, float32 thresholds, float32 leaf path lengths
    (~1 KB a tree instead of ~40 KB for a pickled scikit-learn tree)."""

    model_type = ModelType.iforest_model
    heads = ("iforest",)

    def fit(self, x: np.ndarray, trees: int, samples: int, seed: int) -> IForestHead:
        samples = min(samples, len(x))
        forest = IsolationForest(n_estimators=trees, max_samples=samples, random_state=seed).fit(x)
        depth = int(np.ceil(np.log2(max(samples, 2))))
        inner, leaves = 2**depth - 1, 2**depth
        self.depth_ = depth
        self.feature_ = np.zeros((trees, inner), dtype=np.int16)
        self.threshold_ = np.full((trees, inner), np.inf, dtype=np.float32)
        self.leaf_ = np.zeros((trees, leaves), dtype=np.float32)
        for t, (tree, features) in enumerate(zip(forest.estimators_, forest.estimators_features_)):
            self._copy_tree(t, tree.tree_, np.asarray(features), depth)
        self.norm_ = float(_path_length(samples))
        self.params = {**self.params, "trees": trees, "max_samples": samples, "depth": depth}
        return self

    def _copy_tree(self, t, tree, features, depth):
        stack = [(0, 0, 0)]  # (scikit-learn node, heap slot, depth)
        while stack:
            node, slot, d = stack.pop()
            left, right = tree.children_left[node], tree.children_right[node]
            if left != -1 and d < depth:
                self.feature_[t, slot] = features[tree.feature[node]]
                self.threshold_[t, slot] = _float32_at_most(tree.threshold[node])
                stack.append((left, 2 * slot + 1, d + 1))
                stack.append((right, 2 * slot + 2, d + 1))
                continue
            value = d + _path_length(tree.n_node_samples[node])
            for _ in range(depth - d):  # a shallow leaf: its always-left path reaches the bottom row
                slot = 2 * slot + 1
            self.leaf_[t, slot - (2**depth - 1)] = value

    def raw(self, x):
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        trees, inner = self.feature_.shape
        feature = self.feature_.astype(np.int32).ravel()
        threshold, leaf = self.threshold_.ravel(), self.leaf_.ravel()
        tree_inner = (np.arange(trees, dtype=np.int32) * inner)[None, :]
        tree_leaf = (np.arange(trees, dtype=np.int32) * (inner + 1))[None, :]
        depth = np.empty(x32.shape[0])
        for lo in range(0, x32.shape[0], _FOREST_CHUNK):  # chunks keep the (rows x trees) work in cache
            chunk = x32[lo : lo + _FOREST_CHUNK]
            flat_x = chunk.ravel()
            rows = (np.arange(chunk.shape[0], dtype=np.int32) * chunk.shape[1])[:, None]
            slot = np.zeros((chunk.shape[0], trees), dtype=np.int32)
            for _ in range(self.depth_):
                at = slot + tree_inner
                slot = 2 * slot + 1 + (flat_x[rows + feature[at]] > threshold[at])
            depth[lo : lo + _FOREST_CHUNK] = rowstable.row_sum(leaf[slot - inner + tree_leaf].astype(np.float64))
        return {"iforest": np.exp2(-depth / (trees * self.norm_))}


def out_of_time(scale: np.ndarray, held_out: np.ndarray) -> np.ndarray:
    """Per-tag residual scales, widened to the root mean square of the held-out residuals where that is larger.

    The held-out slice comes after the training rows: a tag that the others do not explain and that wanders on
    its own (a temperature still warming through a short baseline) has residuals there that outgrow the
    training ones, and in a max over tags it would stand for every later departure of its own level. Scaled by
    the wider spread it keeps its place beside the tags the reconstruction does explain."""
    with np.errstate(invalid="ignore"):
        rms = np.sqrt(np.nanmean(held_out * held_out, axis=0)) if len(held_out) else np.zeros_like(scale)
    return np.maximum(scale, np.nan_to_num(rms))


def _float32_at_most(threshold: float) -> np.float32:
    """The largest float32 <= threshold, so float32 x <= it exactly when x <= threshold (sklearn's rule)."""
    value = np.float32(threshold)
    return np.nextafter(value, np.float32(-np.inf)) if value > threshold else value


def _path_length(n) -> float:
    """Average path length of an unsuccessful BST search among n points (the IsolationForest c(n))."""
    n = float(n)
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n

