"""When the machine is stopped, told from the data: a tag is a stop signal only when its low mode comes with
the machine's other signs of stopping.

A candidate has a mode near zero (below `off_fraction` of its running level, the 95th percentile) separated
from its running mode (few readings between that and `low_load_fraction` of the level, which only ramps
produce), reached in runs of consecutive rows (a stop, not a flickering sensor). Currents, flows, speeds,
powers and a stopped machine's vibrations look like this; temperatures, a running process's pressures and
signed positions do not. Candidates whose low rows agree (Jaccard overlap) form a group; the group is a stop
only when, on its low rows, other independent tags fall too: each below half its running level on nearly all
of them and rarely so while running. A flow that sits at zero while the process keeps its running levels (a
gas lift switched off, a bypass closed) is an operating mode, not a stop: it becomes a regime variable. A
machine that never stops has no OFF rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from acm_assets.detectors.redundancy import REDUNDANT_CORRELATION

OFF_MIN_ROWS = 3  # rows below the off level a tag needs before its low mode counts as the machine stopped
OFF_MAX_SHARE = 0.9  # a tag low on more rows than this has no running mode to contrast with
OFF_GAP_RATIO = 0.5  # readings between the off level and half the running level, per reading below it
OFF_GROUP_AGREEMENT = 0.7  # Jaccard overlap of two tags' low rows for them to report the same stops
FALLS_WITH_STOP = 0.9  # share of the stop rows on which a corroborating tag is below half its running level
LOW_WHILE_RUNNING = 0.1  # share of the running rows on which it may be that low
WANTED_SIGNS = 2  # independent corroborating tags a stop needs (fewer when the machine has few tags)


@dataclass(frozen=True)
class StopSignature:
    """The tags that show the machine stopped and their thresholds: OFF when most of them are below theirs."""

    tags: tuple[str, ...] = ()
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    load_tag: str | None = None
    learned_from_stops: bool = False  # the baseline held stops (so start-ups, ramps and low load can be learned)
    modes: tuple[str, ...] = ()  # zero-mode tags that are not stops: operating modes
    report: dict = field(default_factory=dict)


def fit_stop_signature(raw: np.ndarray, tags, operating, config, load_pattern_tag) -> StopSignature:
    """The stop signature of this baseline. A configured `load_tag` alone decides; else a corroborated group
    found in the data; else, for a baseline that never goes below it, the most load-like tag by name
    (`load_pattern_tag`), so a later stop is still seen."""
    if not config.detect_off:
        return StopSignature(report={"method": "disabled"})
    if config.load_tag is not None:
        return _by_name(raw, tags, config.load_tag, config, "configured load_tag")
    candidates, shapes = _candidates(raw, tags, config)
    evidence, best = {}, None
    for seed in sorted(candidates, key=lambda t: -int(candidates[t][0].sum())):
        group = tuple(t for t in candidates if _jaccard(candidates[t][0], candidates[seed][0]) >= OFF_GROUP_AGREEMENT)
        if group in evidence:
            continue
        low = _majority([candidates[t][0] for t in group])
        evidence[group] = _corroboration(raw, tags, group, low, config)
        if evidence[group]["stop"] and (best is None or len(group) > len(best)):
            best = group
    report = {"candidates": shapes, "groups": {" + ".join(g): e for g, e in evidence.items()}}
    modes = tuple(t for t in candidates if best is None or t not in best)
    if best is not None:
        signs = evidence[best]["corroborating"]
        members = best + tuple(signs)
        thresholds = np.array([candidates[t][1] for t in best] + [signs[t] for t in signs])
        load_tag = _load_tag(best, raw, tags, candidates, operating, load_pattern_tag)
        return StopSignature(members, thresholds, load_tag, True, modes, {"method": "data", **report})
    fallback = load_pattern_tag(operating)
    if fallback is None or fallback in modes:
        why = "no tag is named like a load" if fallback is None else f"{fallback} has an operating mode near zero"
        return StopSignature(modes=modes, report={"method": f"none: no corroborated stop, {why}", **report})
    signature = _by_name(raw, tags, fallback, config, "load-like name")
    below = raw[:, tags.index(fallback)] < signature.thresholds[0] if signature.tags else np.zeros(0, bool)
    if below.any():
        return StopSignature(modes=modes, report={
            "method": f"none: {fallback} is below {signature.thresholds[0]:.6g} on {int(below.sum())} rows "
                      "while the other tags keep their running levels", **report})
    return StopSignature(signature.tags, signature.thresholds, fallback, False, modes,
                         {**signature.report, **report})


def _by_name(raw, tags, tag, config, method) -> StopSignature:
    level = float(np.nanquantile(raw[:, tags.index(tag)], 0.95))
    if not level > 0:
        return StopSignature(report={"method": f"none: {tag} is never positive"})
    return StopSignature((tag,), np.array([config.off_fraction * level]), tag, method == "configured load_tag",
                         report={"method": method})


def _candidates(raw, tags, config) -> tuple[dict, dict]:
    """{tag: (low rows, off threshold)} of the tags shaped like stop signals, and every tag's figures."""
    found, report = {}, {}
    for j, tag in enumerate(tags):
        x = raw[:, j]
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            continue
        level = float(np.quantile(finite, 0.95))
        if level <= 0:
            continue
        near = np.isfinite(x) & (x < config.off_fraction * level)
        middle = int(((finite >= config.off_fraction * level) & (finite < config.low_load_fraction * level)).sum())
        n_near = int(near.sum())
        in_runs = int((near & (_run_lengths(near) >= OFF_MIN_ROWS)).sum())
        ok = (OFF_MIN_ROWS <= n_near <= OFF_MAX_SHARE * finite.size and middle <= OFF_GAP_RATIO * n_near
              and 2 * in_runs >= n_near)
        if n_near:
            report[tag] = {"low_rows": n_near, "between_rows": middle, "low_rows_in_stops": in_runs, "shaped": ok}
        if ok:
            found[tag] = (near, config.off_fraction * level)
    return found, report


def _corroboration(raw, tags, group, low, config) -> dict:
    """The signs of stopping on `group`'s `low` rows: its other members, and the other tags that fall with it,
    counted once per redundant cluster (three phase currents are one sign), the group's first member aside."""
    running = ~low
    signs = {}
    for j, tag in enumerate(tags):
        if tag in group:
            continue
        x = raw[:, j]
        level = float(np.nanmedian(np.abs(x[running]))) if running.any() else 0.0
        if not level > 0:
            continue
        threshold = config.low_load_fraction * level
        with np.errstate(invalid="ignore"):
            down_when_stopped = np.nanmean(np.abs(x[low]) < threshold) if low.any() else 0.0
            down_when_running = np.nanmean(np.abs(x[running]) < threshold)
        if down_when_stopped >= FALLS_WITH_STOP and down_when_running <= LOW_WHILE_RUNNING:
            signs[tag] = threshold
    seed = [tags.index(group[0])]
    falling = [tags.index(t) for t in group[1:]] + [tags.index(t) for t in signs]
    independent = _independent_count(raw[running], seed, falling)
    others = _independent_count(raw[running], seed, [j for j in range(len(tags)) if j not in seed])
    needed = max(1, min(WANTED_SIGNS, others // 2))
    return {"low_rows": int(low.sum()), "corroborating": signs, "independent_signs": independent,
            "needed": needed, "stop": independent >= needed}


def _independent_count(values, group_idx, idx) -> int:
    """How many of `idx` remain when a tag near-collinear with `group_idx` or with one already counted is not
    counted again."""
    x = np.where(np.isnan(values), np.nanmedian(values, axis=0), values)
    counted = list(group_idx)
    n = 0
    for j in idx:
        if any(_correlated(x[:, j], x[:, k]) for k in counted):
            continue
        counted.append(j)
        n += 1
    return n


def _correlated(a, b) -> bool:
    if a.std() <= 0 or b.std() <= 0:
        return False
    return abs(float(np.corrcoef(a, b)[0, 1])) >= REDUNDANT_CORRELATION


def _load_tag(group, raw, tags, candidates, operating, load_pattern_tag) -> str:
    """The group's most load-like name, or, when names say nothing, the member that agrees best with it."""
    named = load_pattern_tag(group)
    if named is not None:
        return named
    vote = _majority([candidates[t][0] for t in group])
    return group[int(np.argmax([_jaccard(candidates[t][0], vote) for t in group]))]


def _majority(masks) -> np.ndarray:
    return 2 * np.sum(masks, axis=0) > len(masks)


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
