"""The fused scores: the heads' calibrated z combined, with weights each head earns out of fold, and mapped
so that a fresh healthy point reaches the alert threshold at about the configured false-alarm rate.

Two scores come out of one fit. `fused` weighs every head, the level heads (T², Mahalanobis, isolation
forest: how unusual the operating point is) only as far as a residual head (AR, SPE, OMR: the relations
between the tags) corroborates them: the evidence of a fault. `novelty` weighs the level heads alone: the
evidence that the operating point has moved beyond the baseline's envelope, which is a finding of its own
(a closed valve moves the operating point without breaking a correlation) but not by itself a fault (a new
load pattern does the same). How long such an excursion must last before it is alarmed is read off the
out-of-fold points too: longer than any healthy one lasted there."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from acm_assets.detectors.calibration import Calibrator
from acm_assets.detectors.errors import ArtifactMismatchError, DetectorFitError

MIN_OUT_OF_FOLD = 20  # common out-of-fold points the fusion needs at least (a 100-row baseline has ~80)
LEVEL_HEADS = ("pca_t2", "mhal", "iforest")
VARIABILITY_HEADS = ("gmm",)


class Fusion:
    """Weighted power mean (`fusion_power`) of the heads' positive z, its raw value mapped to z by a
    `Calibrator` fitted on the out-of-fold points and scaled so that the (1 - false_alarm_rate) quantile lands on
    `alert_z`. With `corroborated`, a level head counts only up to the strongest residual head."""

    def __init__(self, heads, weights, calibrator, alert_z, power, *, corroborated, z_at_alert):
        self.heads = tuple(heads)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.calibrator = calibrator
        self.alert_z = float(alert_z)
        self.power = float(power)
        self.corroborated = bool(corroborated)
        self.z_at_alert = float(z_at_alert)
        self.level_ = [j for j, h in enumerate(self.heads) if h in LEVEL_HEADS]
        self.residual_ = [j for j, h in enumerate(self.heads) if h not in LEVEL_HEADS + VARIABILITY_HEADS]

    @classmethod
    def fit(cls, heads, weights, z: np.ndarray, config, *, corroborated: bool) -> Fusion:
        """Calibrated on the out-of-fold z (rows: points, columns: `heads`)."""
        alpha = config.false_alarm_rate
        z_at_alert = float(norm.ppf(1.0 - alpha))
        fusion = cls(heads, weights, None, config.alert_z, config.fusion_power, corroborated=corroborated,
                     z_at_alert=z_at_alert)
        fusion.calibrator = Calibrator.fit(fusion.raw(z), extra_probs=[1.0 - alpha])
        return fusion

    def raw(self, z: np.ndarray) -> np.ndarray:
        positive = np.clip(z, 0.0, None)
        if self.corroborated and self.level_ and self.residual_:
            corroboration = positive[:, self.residual_].max(axis=1)
            positive[:, self.level_] = np.minimum(positive[:, self.level_], corroboration[:, None])
        total = np.zeros(z.shape[0])
        for j, w in enumerate(self.weights):
            total += w * positive[:, j] ** self.power
        return (total / max(self.weights.sum(), 1e-300)) ** (1.0 / self.power)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.calibrator(self.raw(z)) * self.alert_z / self.z_at_alert

    @property
    def threshold(self) -> float:
        """The raw score at which the fused z reaches `alert_z`."""
        return self.calibrator.inverse(self.z_at_alert)


def earned_weights(heads, departures: dict, z: np.ndarray, config) -> tuple[np.ndarray, dict]:
    """Each head's weight: the configured one times its out-of-fold reliability (`crossfit.reliability`; none for
    a head switched off), divided by (1 + its summed positive correlation with the other heads out of fold), so
    heads that see the same thing do not vote several times."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(z, rowvar=False)) if len(heads) > 1 else np.ones((1, 1))
    np.fill_diagonal(corr, 0.0)
    overlap = np.clip(corr, 0.0, 1.0).sum(axis=1)
    switched_off = {h: departures[h]["switched_off"] for h in heads if departures[h]["switched_off"]}
    weights = np.array([config.weight(h) * departures[h]["reliability"] * (h not in switched_off) for h in heads])
    if not weights.any():
        raise DetectorFitError(f"every head is switched off as unreliable out of fold: {switched_off}")
    return weights / (1.0 + overlap), {"reliability": {h: departures[h]["reliability"] for h in heads},
                                       "switched_off": switched_off}


def out_of_fold_matrix(out_of_fold: dict, owners: dict, heads) -> tuple[np.ndarray, np.ndarray]:
    """The heads' out-of-fold z on their common timestamps (`out_of_fold`: head -> (int64 ns times, z);
    `owners`: head -> artifact name for errors)."""
    common = None
    for head in heads:
        times = out_of_fold[head][0]
        common = times if common is None else np.intersect1d(common, times, assume_unique=True)
    smallest = min(len(out_of_fold[h][0]) for h in heads)
    names = sorted({owners[h] for h in heads})
    if common.size < smallest // 2:
        raise ArtifactMismatchError(
            f"artifacts {names} share only {common.size} out-of-fold timestamps (of {smallest}): they were "
            "fitted on different baselines; re-fit them together"
        )
    if common.size < MIN_OUT_OF_FOLD:
        raise DetectorFitError(
            f"artifacts {names} have only {common.size} out-of-fold baseline points for calibration; at least "
            f"{MIN_OUT_OF_FOLD} are needed: use a longer baseline"
        )
    z = np.column_stack([out_of_fold[h][1][np.searchsorted(out_of_fold[h][0], common)] for h in heads])
    return common, z.astype(np.float64)


def longest_excursion_ns(times: np.ndarray, z: np.ndarray, alert_z: float, caution_z: float) -> int:
    """The longest excursion among the points, in time: from a point at or above `alert_z` through the points
    after it that stay at or above `caution_z` (the way the episode tracker follows a move)."""
    longest, start = 0, None
    for t, value in zip(times.tolist(), z.tolist()):
        if start is not None and value >= caution_z:
            longest = max(longest, t - start)
        elif value >= alert_z:
            start = t
        else:
            start = None
    return int(longest)
