"""Operating states: OFF/idle from the tags that show stops, start-up settling, auto-k regimes, novelty, and the
per-regime scaler every head works in (deviations from the regime's own normal, in its own spread)."""

from __future__ import annotations

import re
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score

from acm_assets.detectors.artifacts import Artifact, ModelType
from acm_assets.detectors.durations import Durations
from acm_assets.detectors.errors import DetectorFitError
from acm_assets.detectors.features import MIN_WINDOW_ROWS, difference_statistics, ffill_within, hold_rows, lag_rows
from acm_assets.detectors.reconstruction import fit_reconstruction, residuals
from acm_assets.detectors.redundancy import independent_tags, redundant_groups
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
FULL_WINDOW_SHARE = 0.75  # of a window's readings a spread needs
NO_SPREAD = np.iinfo(np.int64).max  # the readings a window needs for a tag whose spread is never estimated
SETTLE_MIN_STARTS = 2  # start-ups the baseline must show before a settling time is learned from them
_SETTLE_FIT_ROWS = 5000
_SETTLE_MIN_BIN_ROWS = 3  # rows a bin after start-ups needs before its median counts
_SETTLE_BIN_NS = 30 * 60 * 10**9  # the widest bin; narrower when the settling range is short
_SETTLE_BINS = 20


OFF_MIN_ROWS = 3  # rows below the off level a tag needs before its low mode counts as the machine stopped
OFF_MAX_SHARE = 0.9  # a tag low on more rows than this has no running mode to contrast with
OFF_GAP_RATIO = 0.5  # readings between the off level and half the running level, per reading below it
OFF_GROUP_AGREEMENT = 0.7  # Jaccard overlap of two tags' low rows for them to report the same stops


def off_group(raw: np.ndarray, tags, off_fraction: float, low_fraction: float) -> tuple[tuple[str, ...], dict]:
    """The tags that show the machine stopped, found from the data, not from their names: each has a mode
    near zero (below `off_fraction` of its running level, the 95th percentile) separated from its running
    mode (few readings between that and `low_fraction` of the level, which only ramps produce), reached in
    runs of consecutive rows (a stop, not a flickering sensor). Currents, flows, speeds, powers, and the
    vibrations of a stopped machine look like this; temperatures, pressures of a running process and
    signed positions do not. The candidates that agree with the most common stop pattern form the group;
    the per-tag figures are reported."""
    found, report = [], {}
    for j, tag in enumerate(tags):
        x = raw[:, j]
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            continue
        level = float(np.quantile(finite, 0.95))
        if level <= 0:
            continue
        near = np.isfinite(x) & (x < off_fraction * level)
        middle = int(((finite >= off_fraction * level) & (finite < low_fraction * level)).sum())
        n_near = int(near.sum())
        in_runs = int((near & (_run_lengths(near) >= OFF_MIN_ROWS)).sum())
        ok = (
            n_near >= OFF_MIN_ROWS
            and n_near <= OFF_MAX_SHARE * finite.size
            and middle <= OFF_GAP_RATIO * n_near
            and 2 * in_runs >= n_near
        )
        if n_near:
            report[tag] = {"low_rows": n_near, "between_rows": middle, "low_rows_in_stops": in_runs, "stop_tag": ok}
        if ok:
            found.append((tag, near, off_fraction * level))
    best = ()
    for seed, seed_near, _ in sorted(found, key=lambda f: -int(f[1].sum())):
        group = tuple(t for t, near, _ in found if _jaccard(near, seed_near) >= OFF_GROUP_AGREEMENT)
        if len(group) > len(best):
            best = group
    thresholds = {t: thr for t, _, thr in found if t in best}
    return best, {"candidates": report, "thresholds": thresholds}


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Length of the run of equal values each element of a boolean mask belongs to."""
    if mask.size == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [mask.size]])
    return np.repeat(np.diff(bounds), np.diff(bounds))


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 0.0


def auto_operating_tags(tags) -> tuple[str, ...]:
    return tuple(t for t in tags if any(re.search(p, t.lower()) for p in _LOAD_PATTERNS))


def auto_load_tag(operating_tags) -> str | None:
    for pattern in _LOAD_PATTERNS:
        for tag in operating_tags:
            if re.search(pattern, tag.lower()):
                return tag
    return None


class RegimeModel(Artifact):
    """OFF when most stop tags (`off_group`) are below `off_fraction` of their running level; `transition`
    (start-up, shut-down, low-load ramps: scored but never alarmed) while the load is below
    `low_load_fraction` of its median running level and for a settling time after that (learned from the
    baseline's own start-ups, see `learned_settle_ns`), and while the load moves by more than `ramp_fraction`
    of that median within one feature window; regimes by k-means on the standardised operating tags when the
    silhouette clears the floor (else one regime); `novel` when a point is farther from every regime centre
    than `novelty_factor` times the baseline's 99.9th-percentile distance.

    Fitted first, it also carries what every other artifact reads off the same baseline: the durations in
    effect, the redundant tag groups, and the facts window spreads are measured against."""

    model_type = ModelType.regime_model

    def __init__(self, *, operating_tags, load_tag, off_tags, off_thresholds, low_threshold, ramp_threshold,
                 durations, window_ns, settle_ns, min_settle_ns, op_fill, op_center, op_scale, centroids,
                 regime_rows, novelty_radius, centers, scales, dropped_tags, redundant=(), spread_rows=None,
                 diff_log_scale=None, diff_kurtosis=None, **base):
        super().__init__(**base)
        self.durations = durations  # every duration in effect, derived from this baseline where not configured
        self.operating_tags = tuple(operating_tags)
        self.load_tag = load_tag
        self.off_tags = tuple(off_tags)  # the machine is OFF when most of these are below their thresholds
        self.off_thresholds = np.asarray(off_thresholds, dtype=np.float64)
        self.low_threshold = low_threshold
        self.ramp_threshold = ramp_threshold
        self.window_ns = int(window_ns)  # the effective feature window (also the ramp window)
        self.settle_ns = int(settle_ns)  # learned: no episode opens before a start-up has settled
        self.min_settle_ns = int(min_settle_ns)  # configured: the heads learn from the rows after it
        self.ffill_ns = durations.ns("ffill_limit")
        self.op_fill = op_fill
        self.op_center = op_center
        self.op_scale = op_scale
        self.centroids = centroids
        self.regime_rows = list(regime_rows)
        self.novelty_radius = float(novelty_radius)
        self.centers = centers  # (regimes + 1, tags): one row per regime, the last is the pooled running state
        self.scales = scales
        self.dropped_tags = dict(dropped_tags)
        self.redundant = [tuple(g) for g in redundant]  # groups of near-collinear tags, representative first
        self.independent_tags = independent_tags(self.tags, self.redundant)
        # readings a window needs per tag before its spread counts (longer for tags that hold their readings)
        self.spread_rows = np.full(len(self.tags), MIN_WINDOW_ROWS) if spread_rows is None else spread_rows
        # the baseline's first differences (pooled units, one cadence apart): what window spreads are measured
        # against, and how far they scatter by chance
        self.diff_log_scale = np.zeros(len(self.tags)) if diff_log_scale is None else diff_log_scale
        self.diff_kurtosis = np.full(len(self.tags), 3.0) if diff_kurtosis is None else diff_kurtosis

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
        """Per row: OFF (most stop tags low), low load (start-up / shut-down) and ramping (the load tag)."""
        n = len(times)
        nothing = np.zeros(n, dtype=bool)
        if not self.off_tags:
            return nothing, nothing, nothing
        stops = ffill_within(values[:, [self.tags.index(t) for t in self.off_tags]], times, self.ffill_ns)
        with np.errstate(invalid="ignore"):
            low_votes = (stops < self.off_thresholds).sum(axis=1)
        off = 2 * low_votes > np.isfinite(stops).sum(axis=1)
        if self.load_tag is None or self.low_threshold is None:
            return off, nothing, nothing
        load = ffill_within(values[:, [self.tags.index(self.load_tag)]], times, self.ffill_ns)[:, 0]
        load = np.nan_to_num(load, nan=np.inf)
        before = np.searchsorted(times, times - self.window_ns, side="left")
        with np.errstate(invalid="ignore"):  # a missing load (inf) is no ramp
            ramp = np.abs(load - load[before]) > self.ramp_threshold
        return off, load < self.low_threshold, ramp

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
    if config.load_tag is not None and config.load_tag not in tags:
        raise DetectorFitError(f"regime_model: load_tag {config.load_tag!r} is not a usable baseline tag")
    durations = Durations.derive(times, config)
    ffill_ns = durations.ns("ffill_limit")
    window_ns = effective_window_ns(durations)
    stop_tags, off_thresholds, load_tag, detection = _stop_detection(raw, tags, operating, config)
    if config.operating_tags is None and not operating and load_tag is not None:
        operating = (load_tag,)  # names say nothing: the regimes follow the tag that shows the load
    low_threshold = ramp_threshold = None
    if load_tag is not None:
        load = raw[:, tags.index(load_tag)]
        off_threshold = off_thresholds[stop_tags.index(load_tag)] if load_tag in stop_tags else (
            config.off_fraction * float(np.nanquantile(load, 0.95)))
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
    min_settle_ns = durations.ns("startup_settle") if config.detect_off else 0
    probe = RegimeModel(
        operating_tags=(), load_tag=load_tag, off_tags=stop_tags, off_thresholds=off_thresholds,
        low_threshold=low_threshold, ramp_threshold=ramp_threshold, durations=durations, window_ns=window_ns,
        settle_ns=min_settle_ns, min_settle_ns=min_settle_ns, op_fill=None, op_center=None, op_scale=None,
        centroids=np.zeros((1, 0)),
        regime_rows=[len(times)], novelty_radius=np.inf, centers=None, scales=None, dropped_tags={}, tags=tags,
        fingerprint="", upstream={}, train_rows=len(times), params={"min_regime_rows": config.min_regime_rows},
    )
    state, _, _, _, _ = probe.states(raw, times, None)
    settle_ns, settle_params = min_settle_ns, {}
    if load_tag is not None:
        # a learned settle keeps at least the steady rows it was learned on (>= min_baseline_rows) running
        _, low, _ = probe.load_flags(raw, times)
        settle_ns, settle_params = learned_settle_ns(raw, times, state == RUNNING, low, durations, config)
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
    pooled = (raw - pooled_center) / pooled_scale
    lag = lag_rows(times, durations.cadence_ns)
    paired = (lag >= 0) & running & running[np.maximum(lag, 0)]
    paired &= times - times[np.maximum(lag, 0)] <= durations.ns("ar_max_gap")
    diff_log_scale, diff_kurtosis = difference_statistics(
        np.where(paired[:, None], pooled - pooled[np.maximum(lag, 0)], np.nan)
    )
    return RegimeModel(
        operating_tags=operating, load_tag=load_tag, off_tags=stop_tags, off_thresholds=off_thresholds,
        low_threshold=low_threshold, ramp_threshold=ramp_threshold, durations=durations, window_ns=window_ns,
        settle_ns=settle_ns, min_settle_ns=min_settle_ns, op_fill=op_fill, op_center=op_center, op_scale=op_scale,
        centroids=centroids, regime_rows=regime_rows, novelty_radius=radius, centers=np.array(centers),
        scales=np.array(scales), dropped_tags=dropped_tags, redundant=redundant, spread_rows=spread_rows,
        diff_log_scale=diff_log_scale, diff_kurtosis=diff_kurtosis, tags=tags, fingerprint=fingerprint, upstream={},
        train_rows=int(running.sum()),
        params={
            "min_regime_rows": config.min_regime_rows,
            "operating_tags": list(operating),
            "load_tag": load_tag,
            "stop_detection": detection,
            "low_load_threshold": low_threshold,
            "ramp_threshold": ramp_threshold,
            "startup_settle_s": settle_ns / 1e9,
            "settle_learning": settle_params,
            "durations": durations.to_params(),
            "configured_durations": durations_setting(config),
            "feature_window_s": window_ns / 1e9,
            "regimes": len(centroids),
            "regime_rows": regime_rows,
            "off_rows": int((state == OFF).sum()),
            "settling_rows": int((state == TRANSITION).sum()),
            "novelty_radius": None if not np.isfinite(radius) else round(radius, 6),
            "dropped_tags": dict(dropped_tags),
            "redundant_tags": {group[0]: list(group[1:]) for group in redundant},
            "spread_rows": {t: int(n) for t, n in zip(tags, spread_rows) if MIN_WINDOW_ROWS < n < NO_SPREAD},
            "no_spread_tags": [t for t, n in zip(tags, spread_rows) if n == NO_SPREAD],
        },
    )


def _stop_detection(raw: np.ndarray, tags, operating, config):
    """(stop tags, their off thresholds, the load tag, a report of how they were found).

    A configured `load_tag` alone decides; else the stop group found in the data (`off_group`), whose load tag is
    its most load-like name or, when names say nothing, the member that agrees best with the group; else, for
    a baseline that never stops, the most load-like operating tag by name, so a later stop is still seen."""
    nothing = ((), np.zeros(0), None)
    if not config.detect_off:
        return (*nothing, {"method": "disabled"})
    group = ((), {}) if config.load_tag is not None else off_group(raw, tags, config.off_fraction,
                                                                  config.low_load_fraction)
    if not group[0]:
        tag = config.load_tag if config.load_tag is not None else auto_load_tag(operating)
        if tag is None:
            return (*nothing, {"method": "none: no tag shows stops and no tag is named like a load"})
        level = float(np.nanquantile(raw[:, tags.index(tag)], 0.95))
        if not level > 0:
            return (*nothing, {"method": f"none: {tag} is never positive"})
        method = "configured load_tag" if config.load_tag is not None else "load-like name"
        return (tag,), np.array([config.off_fraction * level]), tag, {"method": method}
    members, report = group
    thresholds = np.array([report["thresholds"][t] for t in members])
    load_tag = auto_load_tag(members)
    if load_tag is None:
        low = raw[:, [tags.index(t) for t in members]] < thresholds
        vote = 2 * low.sum(axis=1) > np.isfinite(raw[:, [tags.index(t) for t in members]]).sum(axis=1)
        load_tag = members[int(np.argmax([_jaccard(low[:, k], vote) for k in range(len(members))]))]
    return members, thresholds, load_tag, {"method": "data", **report}


def learned_settle_ns(raw, times, running, low, durations: Durations, config) -> tuple[int, dict]:
    """How long after a start-up the tags take to return to their steady relations to each other.

    Temperatures follow load and ambient through thermal lags of hours, so right after the configured settle a
    start-up still looks like a fault to every residual head. Each tag is reconstructed from the others (the
    OMR head's ridge reconstruction) on steady rows (more than `max_startup_settle` after any low load); the
    largest standardised residual of a row measures how unsettled it is. Rows after start-ups are binned by
    time since the low load (half-hour bins, narrower when the range is short); the settling time is the end
    of the last bin whose median is above the steady rows' 90th percentile, between `startup_settle` and
    `max_startup_settle`. Kept at `startup_settle` when the baseline shows fewer than SETTLE_MIN_STARTS
    start-ups or too few steady rows to learn from."""
    configured_ns, cap_ns = durations.ns("startup_settle"), durations.ns("max_startup_settle")
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
