"""Time to a limit against the actual crossing, on the simulator's degradation faults.

`python -m acm_assets.bench limits [--seeds 0,1,2,3,4] [--types FD_FAN,COND_PUMP,GAS_TURBINE]
[--faults drift,bearing_degradation]` prints JSON.

Protocol, per machine type, seed and fault type: a 60-day baseline (the product's default window) fits the
detectors; the fault is placed in the first running stretch after it long enough for the fault's default window
(drift 96 h, bearing degradation 120 h; else the longest stretch, shortened to fit), on the machine's bearing
temperature, with the middle of the default magnitude range. The tag's limit is its level before the fault (the
median of the running day before) plus 80 % of the fault's full rise (magnitude x the tag's running sigma in
the fault-free signal). The actual crossing is the first time the readings' one-hour rolling median reaches
the limit. The detectors score from the end of the baseline on, carrying their state; the episode is the first
that opens in the fault window. Estimates are made as the scoring asset makes them (the tag's departure from
what the equipment's other tags explain, trended from the episode's onset, its first evidence): at the moment it
opens, a quarter of the way and halfway from there to the crossing. The error is relative to the true remaining
time at that moment. Beside each estimate, the trend of the raw readings since the onset (what the library does
without the other tags), measured in the same run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_assets.detectors import DetectorEnsemble, EnsembleConfig
from acm_assets.detectors.limits import time_to_limit, time_to_limit_beyond_conditions
from acm_assets.outputs.limits import REFERENCE
from acm_assets.simulation.machines import MACHINES
from acm_assets.simulation.simulator import EQUIPMENT_TYPES, FaultSpec, simulate

DAYS, BASELINE_DAYS = 100.0, 60.0
WINDOW_H = {"drift": 96.0, "bearing_degradation": 120.0}
MAGNITUDE = {"drift": 4.0, "bearing_degradation": 3.25}  # middle of the simulator's default ranges
LIMIT_SHARE = 0.8
MIN_WINDOW_H = 36.0
MARGIN_H = 6.0  # clear of the start-up before and the stop after
CHECKPOINTS = {"at_opening": 0.0, "quarter_way": 0.25, "halfway": 0.5}
TARGET = "median |error| <= 25 % of the true remaining time, for estimates made halfway"


def add_arguments(parser) -> None:
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated simulator seeds")
    parser.add_argument("--types", default=",".join(EQUIPMENT_TYPES), help="machine types")
    parser.add_argument("--faults", default=",".join(WINDOW_H), help="degradation fault types")


def run(args) -> dict:
    seeds = [int(s) for s in str(args.seeds).split(",") if s]
    types = [t for t in str(args.types).split(",") if t]
    faults = [f for f in str(args.faults).split(",") if f]
    unknown = sorted(set(faults) - set(WINDOW_H))
    if unknown:
        raise SystemExit(f"unknown faults {unknown}; choose from {', '.join(WINDOW_H)}")
    cases = [case(t, f, seed) for t in types for f in faults for seed in seeds]
    return {"target": TARGET, "protocol": __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(),
            "summary": summarize(cases), "cases": cases}


def case(equipment_type: str, fault_type: str, seed: int) -> dict:
    """One simulated degradation: where its limit lies, when it crosses, when the episode opened, and the estimate
    at each checkpoint."""
    clean = simulate(equipment_type, days=DAYS, seed=seed, faults=None)
    index = clean.frame.index
    split = index[0] + pd.Timedelta(days=BASELINE_DAYS)
    tag = MACHINES[equipment_type].bearing_tags[0]
    start, end = _window(clean.state, split, WINDOW_H[fault_type])
    out = {"equipment_type": equipment_type, "fault": fault_type, "seed": seed, "tag": tag}
    if start is None:
        return {**out, "outcome": "no running stretch long enough"}
    running = clean.state == "running"
    sigma = float(clean.frame.loc[running, tag].std())
    level = float(clean.frame.loc[running & (index < start) & (index >= start - pd.Timedelta(days=1)), tag].median())
    limit = level + LIMIT_SHARE * MAGNITUDE[fault_type] * sigma
    tags = (tag,) if fault_type == "drift" else MACHINES[equipment_type].bearing_tags
    spec = FaultSpec(fault_type, start, end, tags, MAGNITUDE[fault_type])
    faulty = simulate(equipment_type, days=DAYS, seed=seed, faults=[spec]).frame
    readings = faulty[tag]
    median = readings.where(running).rolling("1h").median()
    crossed = median[(median.index >= start) & (median >= limit)]
    out |= {"window_h": (end - start) / pd.Timedelta(hours=1), "limit": round(limit, 3), "sigma": round(sigma, 4)}
    if crossed.empty:
        return {**out, "outcome": "the readings never reach the limit"}
    crossing = crossed.index[0]
    episode = _first_episode(faulty, split, start, end)
    out |= {"crossing_after_start_h": _hours(crossing - start)}
    if episode is None or episode["start"] >= crossing:
        return {**out, "outcome": "no episode before the crossing"}
    opened, onset = episode["start"], episode["onset"] if pd.notna(episode["onset"]) else episode["start"]
    out |= {"outcome": "estimated", "opened_after_start_h": _hours(opened - start), "culprit_named": tag in
            episode["culprits"], "estimates": {}}
    for name, share in CHECKPOINTS.items():
        at = readings.index[readings.index <= opened + share * (crossing - opened)][-1]
        span = faulty[(faulty.index >= onset - REFERENCE) & (faulty.index <= at)]
        estimate = time_to_limit_beyond_conditions(tag, span, onset, limit, "above", exclude=episode["culprits"])
        raw = span.loc[span.index >= onset, tag]
        out["estimates"][name] = {
            "true_h": round(_hours(crossing - at), 2),
            **_figures(estimate),
            # The same library's trend of the raw readings since the onset, for comparison.
            "raw_readings": _figures(time_to_limit(tag, raw.index.asi8, raw.to_numpy(), limit, "above")),
        }
    return out


def _figures(estimate) -> dict:
    rounded = {key: None if value is None else round(value, 2) for key, value in
               (("estimate_h", estimate.hours), ("low_h", estimate.low), ("high_h", estimate.high))}
    return {**rounded, "trend": estimate.trend, "reason": estimate.reason}


def _window(state: pd.Series, after: pd.Timestamp, hours: float):
    """[start, end] of the fault: the first running stretch after `after` that holds it with a margin on both
    sides, else the longest one shortened to fit (None where none holds MIN_WINDOW_H)."""
    running = (state == "running").to_numpy()
    index = state.index
    edges = np.flatnonzero(np.diff(np.concatenate([[0], running.astype(int), [0]])))
    stretches = [(index[a], index[b - 1]) for a, b in zip(edges[::2], edges[1::2]) if index[a] >= after]
    margin = pd.Timedelta(hours=MARGIN_H)
    usable = [(a + margin, b - margin) for a, b in stretches if b - a > 2 * margin]
    wanted = pd.Timedelta(hours=hours)
    for a, b in usable:
        if b - a >= wanted:
            return a, a + wanted
    longest = max(usable, key=lambda s: s[1] - s[0], default=None)
    if longest is None or longest[1] - longest[0] < pd.Timedelta(hours=MIN_WINDOW_H):
        return None, None
    return longest


def _first_episode(frame: pd.DataFrame, split: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp):
    """The first episode that opens inside the fault window, scored by detectors fitted on the baseline."""
    ensemble = DetectorEnsemble(EnsembleConfig()).fit(frame[frame.index < split])
    _, state = ensemble.score_with_state(frame[frame.index < split])
    scores, _ = ensemble.score_with_state(frame[(frame.index >= split) & (frame.index <= end)], state)
    episodes = ensemble.episodes(scores)
    inside = episodes[(episodes["start"] >= start) & (episodes["start"] <= end)] if len(episodes) else episodes
    return None if inside.empty else inside.sort_values("start").iloc[0]


def _hours(delta: pd.Timedelta) -> float:
    return delta / pd.Timedelta(hours=1)


def summarize(cases: list[dict]) -> dict:
    """Per checkpoint: how many estimates, the median and 80th percentile of |error| / true remaining time, the
    median signed error (positive: later than the truth), and how often the interval held the truth; beside it the
    same figures of the raw readings' trend."""
    estimated = [c for c in cases if c["outcome"] == "estimated"]
    outcomes = pd.Series([c["outcome"] for c in cases]).value_counts().to_dict()
    summary = {"cases": len(cases), "outcomes": outcomes,
               "culprit_named": sum(bool(c["culprit_named"]) for c in estimated)}
    for name in CHECKPOINTS:
        rows = pd.DataFrame([{**c["estimates"][name], "fault": c["fault"]} for c in estimated])
        raw = pd.DataFrame([{**c["estimates"][name]["raw_readings"], "true_h": c["estimates"][name]["true_h"]}
                            for c in estimated])
        summary[name] = _checkpoint(rows)
        if len(rows):
            summary[name]["by_fault"] = {f: _checkpoint(part) for f, part in rows.groupby("fault")}
            summary[name]["raw_readings"] = _checkpoint(raw)
    return summary


def _checkpoint(rows: pd.DataFrame) -> dict:
    if rows.empty:
        return {"estimates": 0}
    given = rows[rows["estimate_h"].notna()]
    error = (given["estimate_h"] - given["true_h"]) / given["true_h"]
    high = given["high_h"].fillna(np.inf)
    covered = (given["low_h"] <= given["true_h"]) & (given["true_h"] <= high)
    return {
        "made": len(rows),
        "with_a_number": len(given),
        "median_abs_error_share": None if given.empty else round(float(error.abs().median()), 3),
        "p80_abs_error_share": None if given.empty else round(float(error.abs().quantile(0.8)), 3),
        "median_signed_error_share": None if given.empty else round(float(error.median()), 3),
        "interval_holds_truth": None if given.empty else round(float(covered.mean()), 3),
        "median_true_remaining_h": round(float(rows["true_h"].median()), 1),
    }
