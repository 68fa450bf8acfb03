"""Operating states: OFF/idle from a load-like tag, start-up settling, auto-k regimes, novelty, and the
per-regime scaler every head works in (deviations from the regime's own normal, in its own spread)."""

from __future__ import annotations

import re
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score

from acm_assets.detectors.artifacts import Artifact, ModelType
from acm_assets.detectors.errors import DetectorFitError
from acm_assets.detectors.features import MIN_WINDOW_ROWS, ffill_within
from acm_assets.detectors.reconstruction import fit_reconstruction, residuals
from acm_assets.detectors.rowstable import row_sumsq

OFF, TRANSITION, RUNNING = "off", "transition", "running"
NO_REGIME = -1
# Most load-like first: the load tag is the first operating tag matching the earliest pattern.
_LOAD_PATTERNS = (
    r"dwatt|power|load|(?<![a-z])[mk]w(?![a-z])",
    r"current|amps?(?![a-z])",
    r"speed|rpm",
    r"flow",
    r"damper|valve|position",
)
_SILHOUETTE_ROWS = 2000
TRANSITION_SHARE = 0.05
SETTLE_MIN_STARTS = 2  # start-ups the baseline must show before a settling time is learned from them
_SETTLE_FIT_ROWS = 5000
_SETTLE_MIN_BIN_ROWS = 3  # rows a half-hour bin after start-ups needs before its median counts
_SETTLE_BIN_NS = 30 * 60 * 10**9


def auto_operating_tags(tags) -> tuple[str, ...]:
    return tuple(t for t in tags if any(re.search(p, t.lower()) for p in _LOAD_PATTERNS))


def auto_load_tag(operating_tags) -> str | None:
    for pattern in _LOAD_PATTERNS:
        for tag in operating_tags:
            if re.search(pattern, tag.lower()):
                return tag
    return None


class RegimeModel(Artifact):
    """OFF when the load tag is below `off_fraction` of its running level (95th percentile); `transition`
    (start-up, shut-down, low-load ramps: scored but never alarmed) while the load is below
    `low_load_fraction` of its median running level and for a settling time after that (learned from the
    baseline's own start-ups, see `learned_settle_ns`), and while the load moves by more than `ramp_fraction`
    of that median within one feature window; regimes by k-means on the standardised operating tags when the
    silhouette clears the floor (else one regime); `novel` when a point is farther from every regime centre
    than `novelty_factor` times the baseline's 99.9th-percentile distance."""

    model_type = ModelType.regime_model

    def __init__(self, *, operating_tags, load_tag, off_threshold, low_threshold, ramp_threshold, window_ns,
                 settle_ns, min_settle_ns, ffill_ns, op_fill, op_center,
                 op_scale, centroids, regime_rows, novelty_radius, centers, scales, dropped_tags, **base):
        super().__init__(**base)
        self.operating_tags = tuple(operating_tags)
        self.load_tag = load_tag
        self.off_threshold = off_threshold
        self.low_threshold = low_threshold
        self.ramp_threshold = ramp_threshold
        self.window_ns = int(window_ns)  # the effective feature window (also the ramp window)
        self.settle_ns = int(settle_ns)  # learned: no episode opens before a start-up has settled
        self.min_settle_ns = int(min_settle_ns)  # configured: the heads learn from the rows after it
        self.ffill_ns = int(ffill_ns)
        self.op_fill = op_fill
        self.op_center = op_center
        self.op_scale = op_scale
        self.centroids = centroids
        self.regime_rows = list(regime_rows)
        self.novelty_radius = float(novelty_radius)
        self.centers = centers  # (regimes + 1, tags): one row per regime, the last is the pooled running state
        self.scales = scales
        self.dropped_tags = dict(dropped_tags)

    @property
    def n_regimes(self) -> int:
        return len(self.centroids)

    def states(self, values: np.ndarray, times: np.ndarray, last_low_ns: int | None, settle_ns: int | None = None):
        """Per row: state (OFF/TRANSITION/RUNNING), regime id, novelty, distance to the nearest regime, and the
        time of the last low-load row (carried into the next batch for the settling window). `settle_ns`
        replaces the model's settling time (training reads the rows past the configured minimum)."""
        settle_ns = self.settle_ns if settle_ns is None else settle_ns
        n = len(times)
        op_idx = [self.tags.index(t) for t in self.operating_tags]
        never = np.iinfo(np.int64).min
        off, low, ramp = self.load_flags(values, times)
        low_times = np.concatenate([[never if last_low_ns is None else last_low_ns], np.where(low, times, never)])
        last_low = np.maximum.accumulate(low_times)[1:]
        settling = ~off & (low | ramp | ((last_low > never) & (times - last_low <= settle_ns)))
        state = np.where(off, OFF, np.where(settling, TRANSITION, RUNNING))
        if op_idx:
            ops = ffill_within(values[:, op_idx], times, self.ffill_ns)
            ops = np.where(np.isnan(ops), self.op_fill, ops)
            u = (ops - self.op_center) / self.op_scale
            dist = np.column_stack([np.sqrt(row_sumsq(u - c)) for c in self.centroids])
            regime = np.argmin(dist, axis=1)
            distance = dist[np.arange(n), regime]
        else:
            regime = np.zeros(n, dtype=np.int64)
            distance = np.zeros(n)
        novel = ~off & (distance > self.novelty_radius)
        regime = np.where(off, NO_REGIME, regime)
        new_last_low = int(last_low[-1]) if n and last_low[-1] > never else last_low_ns
        return state, regime, novel, distance, new_last_low

    def load_flags(self, values: np.ndarray, times: np.ndarray):
        """Per row from the load tag: OFF, low load (start-up / shut-down) and ramping."""
        n = len(times)
        if self.load_tag is None or self.off_threshold is None:
            return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        load = ffill_within(values[:, [self.tags.index(self.load_tag)]], times, self.ffill_ns)[:, 0]
        load = np.nan_to_num(load, nan=np.inf)
        before = np.searchsorted(times, times - self.window_ns, side="left")
        with np.errstate(invalid="ignore"):  # a missing load (inf) is no ramp
            ramp = np.abs(load - load[before]) > self.ramp_threshold
        return load < self.off_threshold, load < self.low_threshold, ramp

    def scaler_rows(self, regime: np.ndarray) -> np.ndarray:
        """Row of `centers`/`scales` for each point: its regime's own if well populated, else pooled."""
        own = np.array([rows >= self.params["min_regime_rows"] for rows in self.regime_rows] + [True])
        rows = np.where(regime < 0, self.n_regimes, regime)
        return np.where(own[rows], rows, self.n_regimes)


def fit_regime_model(raw: np.ndarray, times: np.ndarray, tags, config, *, fingerprint, dropped_tags) -> RegimeModel:
    operating = config.operating_tags if config.operating_tags is not None else auto_operating_tags(tags)
    unknown = [t for t in operating if t not in tags]
    if unknown:
        raise DetectorFitError(f"regime_model: operating tags {unknown} are not usable baseline tags")
    load_tag = config.load_tag if config.load_tag is not None else auto_load_tag(operating)
    if load_tag is not None and load_tag not in tags:
        raise DetectorFitError(f"regime_model: load_tag {load_tag!r} is not a usable baseline tag")
    load_tag = load_tag if config.detect_off else None
    ffill_ns = int(config.seconds("ffill_limit") * 1e9)
    off_threshold = low_threshold = ramp_threshold = None
    window_ns = effective_window_ns(times, config)
    if load_tag is not None:
        load = raw[:, tags.index(load_tag)]
        level = float(np.nanquantile(load, 0.95))
        if level > 0:
            off_threshold = config.off_fraction * level
            on = load >= off_threshold
            running_median = float(np.nanmedian(load[on]))
            # never call more than TRANSITION_SHARE of the baseline's on-line rows low-load or ramping: a
            # process that often runs at part load or follows demand quickly is normal at those points
            low_threshold = max(
                min(config.low_load_fraction * running_median, float(np.nanquantile(load[on], TRANSITION_SHARE))),
                off_threshold,
            )
            before = np.searchsorted(times, times - window_ns, side="left")
            swing = np.abs(load - load[before])[on]
            ramp_threshold = max(
                config.ramp_fraction * running_median, float(np.nanquantile(swing, 1.0 - TRANSITION_SHARE))
            )
    min_settle_ns = int(config.seconds("startup_settle") * 1e9) if config.detect_off else 0
    probe = RegimeModel(
        operating_tags=(), load_tag=load_tag, off_threshold=off_threshold, low_threshold=low_threshold,
        ramp_threshold=ramp_threshold, window_ns=window_ns, settle_ns=min_settle_ns, min_settle_ns=min_settle_ns,
        ffill_ns=ffill_ns, op_fill=None, op_center=None, op_scale=None, centroids=np.zeros((1, 0)),
        regime_rows=[len(times)], novelty_radius=np.inf, centers=None, scales=None, dropped_tags={}, tags=tags,
        fingerprint="", upstream={}, train_rows=len(times), params={"min_regime_rows": config.min_regime_rows},
    )
    state, _, _, _, _ = probe.states(raw, times, None)
    settle_ns, settle_params = min_settle_ns, {}
    if load_tag is not None and off_threshold is not None:
        # a learned settle keeps at least the steady rows it was learned on (>= min_baseline_rows) running
        _, low, _ = probe.load_flags(raw, times)
        settle_ns, settle_params = learned_settle_ns(raw, times, state == RUNNING, low, min_settle_ns, config)
        state = probe.states(raw, times, None, settle_ns=settle_ns)[0]
    running = state == RUNNING
    if running.sum() < config.min_baseline_rows:
        raise DetectorFitError(
            f"regime_model: only {int(running.sum())} running baseline rows (OFF {int((state == OFF).sum())}, "
            f"settling {int((state == TRANSITION).sum())}); min_baseline_rows is {config.min_baseline_rows}"
        )
    op_idx = [tags.index(t) for t in operating]
    rng = np.random.default_rng(config.seed)
    if op_idx:
        ops = ffill_within(raw[:, op_idx], times, ffill_ns)[running]
        op_fill = np.nanmedian(ops, axis=0)
        ops = np.where(np.isnan(ops), op_fill, ops)
        op_center = op_fill
        op_scale = _spread(ops, op_center)
        u = (ops - op_center) / op_scale
        labels, centroids = _cluster(u, config, rng)
        dist = np.sqrt(np.min([row_sumsq(u - c) for c in centroids], axis=0))
        radius = config.novelty_factor * max(float(np.quantile(dist, 0.999)), 1.0)
    else:
        op_fill = op_center = op_scale = np.zeros(0)
        labels, centroids = np.zeros(int(running.sum()), dtype=np.int64), np.zeros((1, 0))
        radius = np.inf
    regime_rows = np.bincount(labels, minlength=len(centroids)).tolist()
    run_values = raw[running]
    pooled_center = np.nanmedian(run_values, axis=0)
    pooled_scale = _spread(run_values, pooled_center)
    centers, scales = [], []
    for r in range(len(centroids)):
        part = run_values[labels == r]
        if len(part) >= config.min_regime_rows:
            center = np.nanmedian(part, axis=0)
            scale = _spread(part, center)
            scale = np.where(scale > 0, scale, pooled_scale)
        else:
            center, scale = pooled_center, pooled_scale
        centers.append(center)
        scales.append(scale)
    centers.append(pooled_center)
    scales.append(pooled_scale)
    return RegimeModel(
        operating_tags=operating, load_tag=load_tag, off_threshold=off_threshold, low_threshold=low_threshold,
        ramp_threshold=ramp_threshold, window_ns=window_ns, settle_ns=settle_ns, min_settle_ns=min_settle_ns,
        ffill_ns=ffill_ns, op_fill=op_fill, op_center=op_center, op_scale=op_scale, centroids=centroids,
        regime_rows=regime_rows, novelty_radius=radius, centers=np.array(centers), scales=np.array(scales),
        dropped_tags=dropped_tags, tags=tags, fingerprint=fingerprint, upstream={}, train_rows=int(running.sum()),
        params={
            "min_regime_rows": config.min_regime_rows,
            "operating_tags": list(operating),
            "load_tag": load_tag,
            "off_threshold": off_threshold,
            "low_load_threshold": low_threshold,
            "ramp_threshold": ramp_threshold,
            "startup_settle_s": settle_ns / 1e9,
            "settle_learning": settle_params,
            "configured_feature_window_s": config.seconds("feature_window"),
            "feature_window_s": window_ns / 1e9,
            "regimes": len(centroids),
            "regime_rows": regime_rows,
            "off_rows": int((state == OFF).sum()),
            "settling_rows": int((state == TRANSITION).sum()),
            "novelty_radius": None if not np.isfinite(radius) else round(radius, 6),
            "dropped_tags": dict(dropped_tags),
        },
    )


def learned_settle_ns(raw, times, running, low, configured_ns: int, config) -> tuple[int, dict]:
    """How long after a start-up the tags take to return to their steady relations to each other.

    Temperatures follow load and ambient through thermal lags of hours, so right after the configured settle a
    start-up still looks like a fault to every residual head. Each tag is reconstructed from the others (the
    OMR head's ridge reconstruction) on steady rows (more than `max_startup_settle` after any low load); the
    largest standardised residual of a row measures how unsettled it is. Rows after start-ups are binned by
    time since the low load; the settling time is the end of the last bin whose median is above the steady
    rows' 90th percentile, between `startup_settle` and `max_startup_settle`. Kept at `startup_settle` when the
    baseline shows fewer than SETTLE_MIN_STARTS start-ups or too few steady rows to learn from."""
    cap_ns = int(config.seconds("max_startup_settle") * 1e9)
    never = np.iinfo(np.int64).min
    last_low = np.maximum.accumulate(np.where(low, times, never))
    since = np.where(last_low > never, times - last_low, np.iinfo(np.int64).max)
    steady = running & (since > cap_ns)
    after = running & (since <= cap_ns)
    starts = len(np.unique(last_low[after]))
    params = {"startups": int(starts), "steady_rows": int(steady.sum()), "learned": False}
    p = raw.shape[1]
    if cap_ns <= configured_ns or starts < SETTLE_MIN_STARTS or steady.sum() < max(config.min_baseline_rows, 10 * p):
        return configured_ns, params
    center = np.nanmedian(raw[steady], axis=0)
    x = np.where(np.isnan(raw), center, raw)
    u = (x - center) / _spread(x[steady], center)
    fit_rows = np.flatnonzero(steady)
    fit_rows = fit_rows[np.linspace(0, len(fit_rows) - 1, min(len(fit_rows), _SETTLE_FIT_ROWS)).astype(int)]
    resid = residuals(u, *fit_reconstruction(u[fit_rows], config.omr_alpha))
    unsettled = (np.abs(resid) / np.maximum(resid[fit_rows].std(axis=0), 1e-9)).max(axis=1)
    reference = float(np.quantile(unsettled[steady], 0.9))
    cadence = int(np.median(np.diff(times))) if len(times) > 1 else 0
    width = max(_SETTLE_BIN_NS, cadence)
    settle = configured_ns
    for lo in range(configured_ns, cap_ns, width):
        in_bin = after & (since > lo) & (since <= lo + width)
        if in_bin.sum() >= _SETTLE_MIN_BIN_ROWS and np.median(unsettled[in_bin]) > reference:
            settle = min(lo + width, cap_ns)
    params.update(learned=True, steady_q90=round(reference, 4), settle_s=settle / 1e9)
    return int(settle), params


def effective_window_ns(times: np.ndarray, config) -> int:
    """The configured feature window, widened to hold MIN_WINDOW_ROWS samples at the baseline's cadence
    (a 2 h window on hourly data could never estimate a spread). Fixed at fit time, stored, never per batch."""
    cadence = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    return int(max(config.seconds("feature_window") * 1e9, MIN_WINDOW_ROWS * cadence))


def _spread(values: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Robust spread: 1.4826 MAD, but never below half the standard deviation (quantised tags have MAD 0)."""
    mad = 1.4826 * np.nanmedian(np.abs(values - center), axis=0)
    std = np.nanstd(values, axis=0)
    spread = np.maximum(mad, 0.5 * std)
    return np.where(spread > 0, spread, 1.0)


def _cluster(u: np.ndarray, config, rng) -> tuple[np.ndarray, np.ndarray]:
    """k-means for k = 2..max_regimes; the best silhouette wins if it clears the floor, else one regime."""
    best = (None, -1.0, None)
    sample = u if len(u) <= _SILHOUETTE_ROWS else u[np.sort(rng.choice(len(u), _SILHOUETTE_ROWS, replace=False))]
    for k in range(2, config.max_regimes + 1):
        if len(sample) <= k * 10:
            break
        with warnings.catch_warnings():  # repeated operating points (an idle load tag) give fewer clusters
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = KMeans(n_clusters=k, n_init=3, random_state=config.seed).fit(sample)
        if len(set(model.labels_)) < 2:
            continue
        score = float(silhouette_score(sample, model.labels_))
        if score > best[1]:
            best = (model, score, k)
    model, score, _ = best
    if model is None or score < config.silhouette_floor:
        centroid = np.median(u, axis=0)[None, :]
        return np.zeros(len(u), dtype=np.int64), centroid
    centroids = model.cluster_centers_
    labels = np.argmin(np.column_stack([row_sumsq(u - c) for c in centroids]), axis=1)
    return labels, centroids
