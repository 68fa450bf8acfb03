"""Operating state: OFF from the stop signature (`stops.py`), start-up settling, low-load and ramping
transitions, auto-k regimes, and the per-regime scaler every head works in
(deviations from the regime's own normal, in its own spread, never finer than the tag can resolve)."""

from __future__ import annotations

import re
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score

from acm_assets.detectors.artifacts import Artifact, ModelType
from acm_assets.detectors.crossfit import process_memory_ns
from acm_assets.detectors.durations import Durations
from acm_assets.detectors.errors import DetectorFitError
from acm_assets.detectors.features import (
    LOGSTD_FLOOR,
    MIN_WINDOW_ROWS,
    difference_statistics,
    ffill_within,
    hold_rows,
    lag_rows,
)
from acm_assets.detectors.reconstruction import fit_reconstruction, residuals
from acm_assets.detectors.redundancy import independent_tags, redundant_groups
from acm_assets.detectors.rowstable import row_sumsq
from acm_assets.detectors.stops import StopSignature, fit_stop_signature

OFF, TRANSITION, RUNNING = "off", "transition", "running"
NO_REGIME = -1
NEVER = np.iinfo(np.int64).min  # no OFF or low-load row yet
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
FULL_WINDOW_SHARE = 0.75  # of a window's readings a spread needs
NO_SPREAD = np.iinfo(np.int64).max  # the readings a window needs for a tag whose spread is never estimated
SETTLE_MIN_STARTS = 2  # start-ups the baseline must show before a settling time is learned from them
_SETTLE_FIT_ROWS = 5000
_SETTLE_MIN_BIN_ROWS = 3  # rows a bin after start-ups needs before its median counts
_SETTLE_BIN_NS = 30 * 60 * 10**9  # the widest bin; narrower when the settling range is short
_SETTLE_BINS = 20


def auto_operating_tags(tags) -> tuple[str, ...]:
    return tuple(t for t in tags if any(re.search(p, t.lower()) for p in _LOAD_PATTERNS))


def auto_load_tag(operating_tags) -> str | None:
    for pattern in _LOAD_PATTERNS:
        for tag in operating_tags:
            if re.search(pattern, tag.lower()):
                return tag
    return None


class RegimeModel(Artifact):
    """OFF when most tags of the stop signature are below their thresholds; TRANSITION (start-up, shut-down,
    low-load ramps: scored but never alarmed) for a settling time after OFF or low load (learned from the
    baseline's own start-ups, see `learned_settle_ns`), and, when the baseline held stops, while the load is
    below `low_load_fraction` of its running median or moves by more than `ramp_fraction` of it within one
    feature window; regimes by k-means on the standardised operating tags when the silhouette clears the floor
    (else one regime).

    Fitted first, it also carries what every other artifact reads off the same baseline: its condition (kept
    tags, learning span, noise floors), the durations in effect, the process memory the cross-fitting's gaps
    follow, the redundant tag groups, and the facts window spreads are measured against."""

    model_type = ModelType.regime_model

    def __init__(self, *, condition, stops: StopSignature, operating_tags, low_threshold, ramp_threshold,
                 durations, window_ns, settle_ns, min_settle_ns, memory_ns, op_fill, op_center, op_scale, centroids,
                 regime_rows, centers, scales, floored, redundant, spread_rows, diff_log_scale,
                 diff_kurtosis, **base):
        super().__init__(**base)
        self.condition = condition
        self.durations = durations  # every duration in effect, derived from this baseline where not configured
        self.stops = stops
        self.operating_tags = tuple(operating_tags)
        self.low_threshold = low_threshold
        self.ramp_threshold = ramp_threshold
        self.window_ns = int(window_ns)  # the effective feature window (also the ramp window)
        self.settle_ns = int(settle_ns)  # learned: no episode opens before a start-up has settled
        self.min_settle_ns = int(min_settle_ns)  # configured: the heads learn from the rows after it
        self.memory_ns = int(memory_ns)
        self.ffill_ns = durations.ns("ffill_limit")
        self.op_fill = op_fill
        self.op_center = op_center
        self.op_scale = op_scale
        self.centroids = centroids
        self.regime_rows = list(regime_rows)
        self.centers = centers  # (regimes + 1, tags): one row per regime, the last is the pooled running state
        self.scales = scales
        self.floored = np.asarray(floored, dtype=bool)  # tags that vary less than their noise floor
        self.redundant = [tuple(g) for g in redundant]  # groups of near-collinear tags, representative first
        self.independent_tags = independent_tags(self.tags, self.redundant)
        self.spread_rows = spread_rows  # readings a window needs per tag before its spread counts
        # the baseline's first differences (pooled units, one cadence apart): what window spreads are measured
        # against, and how far they scatter by chance
        self.diff_log_scale = diff_log_scale
        self.diff_kurtosis = diff_kurtosis

    @property
    def n_regimes(self) -> int:
        return len(self.centroids)

    @property
    def off_tags(self) -> tuple[str, ...]:
        return self.stops.tags

    @property
    def load_tag(self) -> str | None:
        return self.stops.load_tag

    @property
    def dropped_tags(self) -> dict:
        return self.condition.dropped

    @property
    def noise_floor(self) -> np.ndarray:
        return self.condition.noise_floor

    def states(self, values: np.ndarray, times: np.ndarray, last_low_ns: int | None, settle_ns: int | None = None):
        """Per row: state (OFF/TRANSITION/RUNNING), regime id (the nearest centre of the operating tags), and the
        time of the last OFF or low-load row up to it (NEVER before any; carried into the next batch for the
        settling window). `settle_ns` replaces the model's settling time (training reads the rows past the
        configured minimum)."""
        settle_ns = self.settle_ns if settle_ns is None else settle_ns
        n = len(times)
        op_idx = [self.tags.index(t) for t in self.operating_tags]
        off, low, ramp = self.load_flags(values, times)
        low_times = np.concatenate([[NEVER if last_low_ns is None else last_low_ns],
                                    np.where(off | low, times, NEVER)])
        last_low = np.maximum.accumulate(low_times)[1:]
        settling = ~off & (low | ramp | ((last_low > NEVER) & (times - last_low <= settle_ns)))
        state = np.where(off, OFF, np.where(settling, TRANSITION, RUNNING))
        if op_idx:
            ops = ffill_within(values[:, op_idx], times, self.ffill_ns)
            ops = np.where(np.isnan(ops), self.op_fill, ops)
            u = (ops - self.op_center) / self.op_scale
            regime = np.argmin(np.column_stack([row_sumsq(u - c) for c in self.centroids]), axis=1)
        else:
            regime = np.zeros(n, dtype=np.int64)
        regime = np.where(off, NO_REGIME, regime)
        return state, regime, last_low

    def load_flags(self, values: np.ndarray, times: np.ndarray):
        """Per row: OFF, low load (start-up / shut-down) and ramping, each when most of the stop signature says
        so: one transmitter failing to zero is no stop and no start-up."""
        n = len(times)
        nothing = np.zeros(n, dtype=bool)
        if not self.stops.tags:
            return nothing, nothing, nothing
        stops = np.abs(ffill_within(values[:, [self.tags.index(t) for t in self.stops.tags]], times, self.ffill_ns))
        finite = np.isfinite(stops)
        voters = finite.sum(axis=1)
        with np.errstate(invalid="ignore"):
            off = 2 * (stops < self.stops.thresholds).sum(axis=1) > voters
            if self.low_threshold is None:
                return off, nothing, nothing
            low = 2 * (stops < self.low_threshold).sum(axis=1) > voters
            before = np.searchsorted(times, times - self.window_ns, side="left")
            swings = np.abs(stops - stops[before]) > self.ramp_threshold  # a missing reading (NaN) is no ramp
        return off, low, 2 * swings.sum(axis=1) > voters

    def scaler_rows(self, regime: np.ndarray) -> np.ndarray:
        """Row of `centers`/`scales` for each point: its regime's own if well populated, else pooled."""
        own = np.array([rows >= self.params["min_regime_rows"] for rows in self.regime_rows] + [True])
        rows = np.where(regime < 0, self.n_regimes, regime)
        return np.where(own[rows], rows, self.n_regimes)


def fit_regime_model(raw: np.ndarray, times: np.ndarray, condition, config, *, fingerprint) -> RegimeModel:
    tags = condition.tags
    operating = config.operating_tags if config.operating_tags is not None else auto_operating_tags(tags)
    unknown = [t for t in operating if t not in tags]
    if unknown:
        raise DetectorFitError(f"regime_model: operating tags {unknown} are not usable baseline tags")
    if config.load_tag is not None and config.load_tag not in tags:
        raise DetectorFitError(f"regime_model: load_tag {config.load_tag!r} is not a usable baseline tag")
    durations = Durations.derive(times, config)
    ffill_ns = durations.ns("ffill_limit")
    window_ns = effective_window_ns(durations)
    stops = fit_stop_signature(raw, tags, operating, config, auto_load_tag)
    if config.operating_tags is None:
        # a zero mode that is no stop is an operating mode; when names say nothing, the load tag leads
        extra = stops.modes + ((stops.load_tag,) if not operating and stops.load_tag is not None else ())
        operating = tuple(t for t in tags if t in operating or t in extra)
    low_threshold = ramp_threshold = None
    if stops.learned_from_stops:
        low_threshold, ramp_threshold = _transition_thresholds(raw, times, tags, stops, window_ns, config)
    min_settle_ns = durations.ns("startup_settle") if config.detect_off else 0
    probe = _probe(condition, stops, low_threshold, ramp_threshold, durations, window_ns, min_settle_ns, config,
                   len(times))
    state = probe.states(raw, times, None)[0]
    settle_ns, settle_params = min_settle_ns, {}
    if stops.tags:
        # a learned settle keeps at least the steady rows it was learned on (>= min_baseline_rows) running
        off, low, _ = probe.load_flags(raw, times)
        settle_ns, settle_params = learned_settle_ns(raw, times, state == RUNNING, off | low, durations, config)
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
        op_scale = _spread(ops, op_center, condition.noise_floor[op_idx])
        u = (ops - op_center) / op_scale
        labels, centroids = _cluster(u, config, rng)
    else:
        op_fill = op_center = op_scale = np.zeros(0)
        labels, centroids = np.zeros(int(running.sum()), dtype=np.int64), np.zeros((1, 0))
    regime_rows = np.bincount(labels, minlength=len(centroids)).tolist()
    run_values = raw[running]
    redundant = redundant_groups(run_values, tags)
    # a spread is compared only with spreads estimated from about as many readings: the baseline's windows are
    # full, and one from a few readings (a run's first rows, after a gap) scatters far more. A tag that holds its
    # readings longer than a window at the baseline's cadence never had a spread to learn from: it gets none
    # either when finer data would fill the window
    window_rows = window_ns // max(durations.cadence_ns, 1) + 1
    spread_rows = np.maximum(hold_rows(run_values), int(np.ceil(FULL_WINDOW_SHARE * (window_rows - 1))))
    spread_rows = np.where(spread_rows > window_rows, NO_SPREAD, spread_rows)
    if len(independent_tags(tags, redundant)) < 2:
        raise DetectorFitError(
            f"baseline: fewer than two independent tags; {', '.join(' ~ '.join(g) for g in redundant)} move "
            "together (|r| >= 0.98 on the running rows): add tags that measure something else"
        )
    floor = condition.noise_floor
    pooled_center = np.nanmedian(run_values, axis=0)
    pooled_scale = _spread(run_values, pooled_center, floor)
    floored = _spread(run_values, pooled_center, np.zeros(len(tags))) < floor
    centers, scales = [], []
    for r in range(len(centroids)):
        part = run_values[labels == r]
        if len(part) >= config.min_regime_rows:
            center = np.nanmedian(part, axis=0)
            scale = _spread(part, center, floor)
        else:
            center, scale = pooled_center, pooled_scale
        centers.append(center)
        scales.append(scale)
    centers.append(pooled_center)
    scales.append(pooled_scale)
    pooled = (raw - pooled_center) / pooled_scale
    lag = lag_rows(times, durations.cadence_ns)
    paired = (lag >= 0) & running & running[np.maximum(lag, 0)]
    paired &= times - times[np.maximum(lag, 0)] <= durations.ns("ar_max_gap")
    diff_log_scale, diff_kurtosis = difference_statistics(
        np.where(paired[:, None], pooled - pooled[np.maximum(lag, 0)], np.nan)
    )
    # one count of a quantised tag is no change in its noise either
    diff_log_scale = np.maximum(diff_log_scale, np.log(np.maximum(floor / pooled_scale, LOGSTD_FLOOR)))
    memory_ns = process_memory_ns(pooled[running], durations.cadence_ns)
    return RegimeModel(
        condition=condition, stops=stops, operating_tags=operating, low_threshold=low_threshold,
        ramp_threshold=ramp_threshold, durations=durations, window_ns=window_ns, settle_ns=settle_ns,
        min_settle_ns=min_settle_ns, memory_ns=memory_ns, op_fill=op_fill, op_center=op_center, op_scale=op_scale,
        centroids=centroids, regime_rows=regime_rows, centers=np.array(centers),
        scales=np.array(scales), floored=floored, redundant=redundant, spread_rows=spread_rows,
        diff_log_scale=diff_log_scale,
        diff_kurtosis=diff_kurtosis, tags=tags, fingerprint=fingerprint, upstream={}, train_rows=int(running.sum()),
        params={
            "min_regime_rows": config.min_regime_rows,
            **condition.to_params(),
            "operating_tags": list(operating),
            "load_tag": stops.load_tag,
            "stop_tags": list(stops.tags),
            "stop_detection": stops.report,
            "low_load_thresholds": _per_tag(stops.tags, low_threshold),
            "ramp_thresholds": _per_tag(stops.tags, ramp_threshold),
            "startup_settle_s": settle_ns / 1e9,
            "settle_learning": settle_params,
            "durations": durations.to_params(),
            "configured_durations": durations_setting(config),
            "feature_window_s": window_ns / 1e9,
            "process_memory_s": memory_ns / 1e9,
            "regimes": len(centroids),
            "regime_rows": regime_rows,
            "off_rows": int((state == OFF).sum()),
            "settling_rows": int((state == TRANSITION).sum()),
            "redundant_tags": {group[0]: list(group[1:]) for group in redundant},
            "floored_tags": [t for t, f in zip(tags, floored) if f],
            "spread_rows": {t: int(n) for t, n in zip(tags, spread_rows) if MIN_WINDOW_ROWS < n < NO_SPREAD},
            "no_spread_tags": [t for t, n in zip(tags, spread_rows) if n == NO_SPREAD],
        },
    )


def _transition_thresholds(raw, times, tags, stops, window_ns, config) -> tuple[np.ndarray, np.ndarray]:
    """Per tag of the stop signature, on its on-line rows: low load below `low_load_fraction` of its running
    median, a ramp a swing of more than `ramp_fraction` of it within one feature window; never more than
    TRANSITION_SHARE of the rows either (a process that often runs at part load or follows demand quickly is
    normal at those points)."""
    low, ramp = [], []
    before = np.searchsorted(times, times - window_ns, side="left")
    for tag, off_threshold in zip(stops.tags, stops.thresholds):
        x = np.abs(raw[:, tags.index(tag)])
        on = x >= off_threshold
        median = float(np.nanmedian(x[on]))
        low.append(max(min(config.low_load_fraction * median, float(np.nanquantile(x[on], TRANSITION_SHARE))),
                       off_threshold))
        swing = np.abs(x - x[before])[on]
        ramp.append(max(config.ramp_fraction * median, float(np.nanquantile(swing, 1.0 - TRANSITION_SHARE))))
    return np.array(low), np.array(ramp)


def _per_tag(tags, values) -> dict | None:
    return None if values is None else {t: round(float(v), 6) for t, v in zip(tags, values)}


def _probe(condition, stops, low_threshold, ramp_threshold, durations, window_ns, settle_ns, config, rows):
    """A regime model that knows only the operating states (to tell running rows before the rest is fitted)."""
    p = len(condition.tags)
    return RegimeModel(
        condition=condition, stops=stops, operating_tags=(), low_threshold=low_threshold,
        ramp_threshold=ramp_threshold, durations=durations, window_ns=window_ns, settle_ns=settle_ns,
        min_settle_ns=settle_ns, memory_ns=0, op_fill=None, op_center=None, op_scale=None,
        centroids=np.zeros((1, 0)), regime_rows=[rows], centers=None, scales=None,
        floored=np.zeros(p, dtype=bool), redundant=(), spread_rows=np.full(p, MIN_WINDOW_ROWS),
        diff_log_scale=np.zeros(p),
        diff_kurtosis=np.full(p, 3.0), tags=condition.tags, fingerprint="", upstream={}, train_rows=rows,
        params={"min_regime_rows": config.min_regime_rows},
    )


def learned_settle_ns(raw, times, running, low, durations: Durations, config) -> tuple[int, dict]:
    """How long after a start-up the tags take to return to their steady relations to each other.

    Temperatures follow load and ambient through thermal lags of hours, so right after the configured settle a
    start-up still looks like a fault to every residual head. Each tag is reconstructed from the others (the
    OMR head's ridge reconstruction) on steady rows (more than `max_startup_settle` after any OFF or low-load
    row); the largest standardised residual of a row measures how unsettled it is. Rows after start-ups are
    binned by time since then (half-hour bins, narrower when the range is short); the settling time is the end
    of the last bin whose median is above the steady rows' 90th percentile, between `startup_settle` and
    `max_startup_settle`. Kept at `startup_settle` when the baseline shows fewer than SETTLE_MIN_STARTS
    start-ups or too few steady rows to learn from."""
    configured_ns, cap_ns = durations.ns("startup_settle"), durations.ns("max_startup_settle")
    last_low = np.maximum.accumulate(np.where(low, times, NEVER))
    since = np.where(last_low > NEVER, times - last_low, np.iinfo(np.int64).max)
    steady = running & (since > cap_ns)
    after = running & (since <= cap_ns)
    starts = len(np.unique(last_low[after]))
    params = {"startups": int(starts), "steady_rows": int(steady.sum()), "learned": False}
    p = raw.shape[1]
    if cap_ns <= configured_ns or starts < SETTLE_MIN_STARTS or steady.sum() < max(config.min_baseline_rows, 10 * p):
        return configured_ns, params
    center = np.nanmedian(raw[steady], axis=0)
    x = np.where(np.isnan(raw), center, raw)
    u = (x - center) / _spread(x[steady], center, np.zeros(p))
    fit_rows = np.flatnonzero(steady)
    fit_rows = fit_rows[np.linspace(0, len(fit_rows) - 1, min(len(fit_rows), _SETTLE_FIT_ROWS)).astype(int)]
    resid = residuals(u, *fit_reconstruction(u[fit_rows], config.omr_alpha))
    unsettled = (np.abs(resid) / np.maximum(resid[fit_rows].std(axis=0), 1e-9)).max(axis=1)
    reference = float(np.quantile(unsettled[steady], 0.9))
    width = max(min(_SETTLE_BIN_NS, (cap_ns - configured_ns) // _SETTLE_BINS), durations.cadence_ns, 1)
    settle = configured_ns
    for lo in range(configured_ns, cap_ns, width):
        in_bin = after & (since > lo) & (since <= lo + width)
        if in_bin.sum() >= _SETTLE_MIN_BIN_ROWS and np.median(unsettled[in_bin]) > reference:
            settle = min(lo + width, cap_ns)
    params.update(learned=True, steady_q90=round(reference, 4), settle_s=settle / 1e9)
    return int(settle), params


def durations_setting(config) -> dict:
    """The configured durations as the signature records them (seconds, or the rule that derives them)."""
    effective = config.effective()
    return {name: effective.get(name, config.seconds(name)) for name in Durations.names()}


def effective_window_ns(durations: Durations) -> int:
    """The feature window, widened to hold MIN_WINDOW_ROWS samples at the baseline's cadence (a configured
    2 h window on hourly data could never estimate a spread). Fixed at fit time, stored, never per batch."""
    return int(max(durations.ns("feature_window"), MIN_WINDOW_ROWS * durations.cadence_ns))


def _spread(values: np.ndarray, center: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Robust spread: 1.4826 MAD, but never below half the standard deviation (quantised tags have MAD 0) nor
    the tag's noise floor; 1 for a tag that does not vary at all."""
    mad = 1.4826 * np.nanmedian(np.abs(values - center), axis=0)
    std = np.nanstd(values, axis=0)
    spread = np.maximum(np.maximum(mad, 0.5 * std), floor)
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
