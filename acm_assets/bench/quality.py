"""Detection quality with one default configuration, on data it was never tuned on.

`python -m acm_assets.bench quality [--sections simulator,exports,plants,sweeps,year] [--seeds 0,1,2,3,4]
[--days 120] [--retrain-days 0] [--baseline-days 60]` prints JSON, one object per section:

- simulator: the machines' labelled faults (several seeds, every type): detection overall and per fault type,
  step delay, drift level at detection, culprit hit rate, false episodes per 30 days and per-point alarm rate
  on fault-free spans. One model fitted on the first two thirds scores the last third (40 days, the season
  moving on); `--retrain-days 7` scores it as the weekly training job would: each week by a model fitted on
  the last `baseline_days` before it, leaving out the episodes found so far and the day before each (as the
  baseline asset does), and warmed up on the day before.
- exports: the real historian exports (`exports.py`).
- plants: the two plant benchmarks beside a textbook PCA T² + Q at 99 % (`plants.py`).
- sweeps: cadences 1 s to 1 h, 8 to 50 tags, baselines of 400 samples to 90 days (`sweeps.py`).
- year: a year of each machine after a 60-day winter baseline, fitted once and retrained weekly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acm_assets.bench import exports, plants, sweeps
from acm_assets.detectors import DetectorEnsemble, EnsembleConfig
from acm_assets.detectors.episodes import left_out_of_retraining
from acm_assets.detectors.evaluation import SINGLE_TAG_FAULTS, false_alarms, match_faults
from acm_assets.simulation.simulator import EQUIPMENT_TYPES, simulate

TARGETS = {
    "detected_overall": ">= 0.90",
    "detected_per_type": ">= 0.75",
    "false_episodes_per_30d": "<= 1 per equipment",
    "point_alarm_rate": "<= 0.005",
    "step_median_delay_samples": "<= 3",
    "drift_level_at_detection_sigma": "< 4",
    "single_tag_culprit_top3": ">= 0.90",
}
BASELINE_DAYS = 60.0  # BaselineWindow.days
SECTIONS = ("simulator", "exports", "plants", "sweeps", "year")
YEAR_DAYS = 365.0
WARM_UP = pd.Timedelta(days=1)  # history a freshly trained model is warmed up with (the scoring asset's WARM_UP)


def add_arguments(parser) -> None:
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated simulator seeds")
    parser.add_argument("--days", type=float, default=120.0, help="days simulated per run (faults in the last third)")
    parser.add_argument("--types", default=",".join(EQUIPMENT_TYPES), help="equipment types to simulate")
    parser.add_argument("--retrain-days", type=float, default=0.0,
                        help="retrain every N days over the test span (7: the weekly training schedule); 0 = fit once")
    parser.add_argument("--baseline-days", type=float, default=BASELINE_DAYS,
                        help="training window of each retrain (the product's baseline default)")
    parser.add_argument("--exports-dir", default=str(exports.EXPORTS_DIR), help="folder with the historian exports")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"any of {', '.join(SECTIONS)}")
    parser.add_argument("--plant-seeds", default="0,1,2,3,4", help="seeds of the plant benchmarks")
    parser.add_argument("--sweep-seeds", default="0", help="seeds of the sweeps")
    parser.add_argument("--year-seeds", default="0", help="seeds of the year protocol")


def run(args) -> dict:
    sections = [name for name in str(args.sections).split(",") if name]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    seeds = _seeds(args.seeds)
    types = [t for t in str(args.types).split(",") if t]
    retrain = {"retrain_days": args.retrain_days, "baseline_days": args.baseline_days}
    out = {"targets": TARGETS, "config_signature": EnsembleConfig().signature()}
    if "simulator" in sections:
        runs = [evaluate_simulation(t, seed, days=args.days, **retrain) for t in types for seed in seeds]
        out["protocol"] = retrain if args.retrain_days else {"retrain_days": 0, "baseline": "first two thirds, fit once"}
        out["simulator"] = summarize(runs)
    if "exports" in sections:
        out["exports"] = exports.evaluate(Path(args.exports_dir))
    if "plants" in sections:
        out["plants"] = plants.evaluate(_seeds(args.plant_seeds))
    if "sweeps" in sections:
        out["sweeps"] = sweeps.evaluate(_seeds(args.sweep_seeds))
    if "year" in sections:
        out["year"] = {
            f"{name}": summarize([
                evaluate_simulation(t, seed, days=BASELINE_DAYS + YEAR_DAYS, train_days=BASELINE_DAYS, **protocol)
                for t in types for seed in _seeds(args.year_seeds)
            ])
            for name, protocol in (("fit_once", {}), ("weekly", {"retrain_days": 7.0}))
        }
    return out


def _seeds(text) -> list[int]:
    return [int(s) for s in str(text).split(",") if s != ""]


def evaluate_simulation(equipment_type: str, seed: int, *, days: float = 120.0, config: EnsembleConfig | None = None,
                        retrain_days: float = 0.0, baseline_days: float = BASELINE_DAYS,
                        train_days: float | None = None):
    """Score the span after the first `train_days` (default: the last third) with the default faults, and the
    same span without faults (bit-identical outside the fault windows) for false alarms. With `retrain_days`, each
    period is scored by a model fitted on the `baseline_days` before it (less the episodes found so far and the
    day before each) and warmed up on the day before it, as the weekly training and daily scoring jobs do; else
    one model fitted on everything before the span scores it all, continuing from the baseline's state."""
    clean = simulate(equipment_type, days=days, seed=seed, faults=None)
    index = clean.frame.index
    split = index[0] + (pd.Timedelta(days=train_days) if train_days else (index[-1] - index[0]) * 2 / 3)
    faulty = simulate(equipment_type, days=days, seed=seed, faults_after=split if train_days else None)
    cadence = index[1] - index[0]
    config = config or EnsembleConfig()
    if retrain_days:
        starts = list(pd.date_range(split, index[-1], freq=pd.Timedelta(days=retrain_days)))
        periods = list(zip(starts, starts[1:] + [index[-1] + cadence]))
        span = pd.Timedelta(days=baseline_days)
    else:
        periods, span = [(split, index[-1] + cadence)], split - index[0]
    (scores, episodes), (clean_scores, clean_episodes) = _score_periods(
        (faulty.frame, clean.frame), periods, span, config, full_history=not retrain_days
    )
    matched = match_faults(episodes, faulty.faults, cadence)
    false = false_alarms(clean_scores, clean_episodes)
    states = clean.state[clean.state.index >= split].value_counts().to_dict()
    return {
        "equipment_type": equipment_type,
        "seed": seed,
        "faults": matched.assign(equipment_type=equipment_type, seed=seed),
        "false_alarms": {**false, "equipment_type": equipment_type, "seed": seed,
                         "states": {str(k): int(v) for k, v in states.items()}},
    }


def _score_periods(frames, periods, span: pd.Timedelta, config: EnsembleConfig, *, full_history: bool):
    """Each frame's periods [start, end) scored by a model fitted on the `span` before each; (scores, episodes)
    per frame. Frames whose baselines are equal share the fit."""
    index = frames[0].index
    out = [([], []) for _ in frames]
    for start, end in periods:
        fitted = []
        for frame, (scores, episodes) in zip(frames, out):
            earlier = [e for e in episodes if len(e)]
            found = left_out_of_retraining(index, pd.concat(earlier)) if earlier else np.zeros(len(index), dtype=bool)
            baseline = frame[(index >= start - span) & (index < start) & ~found]
            ensemble = next((e for b, e in fitted if b.equals(baseline)), None)
            if ensemble is None:
                ensemble = DetectorEnsemble(config).fit(baseline)
                fitted.append((baseline, ensemble))
            warm = baseline if full_history else baseline[baseline.index >= start - WARM_UP]
            _, history = ensemble.score_with_state(warm)
            part, _ = ensemble.score_with_state(frame[(index >= start) & (index < end)], history)
            scores.append(part)
            episodes.append(ensemble.episodes(part))
    return [
        (pd.concat(scores), pd.concat([e for e in episodes if len(e)] or episodes[:1], ignore_index=True))
        for scores, episodes in out
    ]


def summarize(runs: list[dict]) -> dict:
    faults = pd.concat([r["faults"] for r in runs], ignore_index=True)
    false = pd.DataFrame([r["false_alarms"] for r in runs])
    single = faults[faults["type"].isin(SINGLE_TAG_FAULTS) & faults["detected"]]
    steps = faults[(faults["type"] == "step") & faults["detected"]]
    drifts = faults[(faults["type"] == "drift") & faults["detected"]]
    per_equipment = false.groupby("equipment_type").agg(
        false_episodes=("false_episodes", "sum"), days=("days", "sum"), point_alarm_rate=("point_alarm_rate", "mean")
    )
    per_equipment["false_episodes_per_30d"] = 30.0 * per_equipment["false_episodes"] / per_equipment["days"]
    return {
        "runs": len(runs),
        "faults": int(len(faults)),
        "detected_overall": round(float(faults["detected"].mean()), 4),
        "detected_per_type": {k: round(float(v), 4) for k, v in faults.groupby("type")["detected"].mean().items()},
        "detected_per_equipment": {
            k: round(float(v), 4) for k, v in faults.groupby("equipment_type")["detected"].mean().items()
        },
        "step_median_delay_samples": _median(steps["delay_samples"]),
        "drift_level_at_detection_sigma": {
            "median": _median(drifts["level_at_detection"]),
            "max": _max(drifts["level_at_detection"]),
            "share_below_4": round(float((drifts["level_at_detection"] < 4.0).mean()), 4) if len(drifts) else None,
        },
        "single_tag_culprit_top3": round(float((single["culprit_rank"] <= 3).mean()), 4) if len(single) else None,
        "false_alarms_per_equipment": {
            k: {c: round(float(v), 4) for c, v in row.items()} for k, row in per_equipment.iterrows()
        },
        "false_episodes_per_30d_worst_run": _max(false["false_episodes_per_30d"]),
        "point_alarm_rate_worst_run": _max(false["point_alarm_rate"]),
        "missed": faults.loc[~faults["detected"], ["equipment_type", "seed", "type", "tags", "magnitude"]]
        .astype({"tags": str})
        .to_dict(orient="records"),
    }


def _median(values: pd.Series):
    return round(float(np.median(values)), 4) if len(values) else None


def _max(values: pd.Series):
    return round(float(np.max(values)), 4) if len(values) else None
