"""Plant benchmarks the way their public counterparts are scored, beside the textbook PCA T² + Q at 99 %.

CHEM_PROCESS (a continuous chemical process, 52 tags at 3 minutes): a 500-sample healthy baseline; a second
healthy run of 960 samples (another seed: other disturbances and noise); one run of 960 samples per fault type,
the fault from sample 160 to the end, each scored as a run of its own (no history carried in).
PUMP_RIG (a 1 Hz water-pump rig, 8 tags): runs of 1,150 samples whose first 400 are the baseline; the rest is
scored continuing from it: one healthy run, and one run per fault type with the fault in a window of 150-350
samples starting between samples 600 and 800.

Per method: the false alarm rate (share of healthy points alarmed: the healthy runs and every fault run's
points outside its window), the detection rate per fault type (share of fault points alarmed), and the fault
types found (detection rate at least FOUND_RATE). The product's alarm is `alarm` (inside an episode); its
point-wise `fused_z >= alert_z` is reported beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_assets.bench.yardstick import PCAMonitor
from acm_assets.detectors import DetectorEnsemble, EnsembleConfig
from acm_assets.simulation.simulator import fault_run, fault_types, healthy_run, sensor_fault_tags

FOUND_RATE = 0.5
CHEM = {"baseline": 500, "run": 960, "fault_at": 160}
RIG = {"run": 1150, "baseline": 400, "first_start": 600, "last_start": 800, "shortest": 150, "longest": 350}


def evaluate(seeds, config: EnsembleConfig | None = None) -> dict:
    config = config or EnsembleConfig()
    return {"CHEM_PROCESS": _summary(chem_process_runs(seeds, config)), "PUMP_RIG": _summary(pump_rig_runs(seeds, config))}


def chem_process_runs(seeds, config: EnsembleConfig) -> list[dict]:
    rows = []
    for seed in seeds:
        baseline = healthy_run("CHEM_PROCESS", CHEM["baseline"], seed=seed).frame
        ensemble, monitor = DetectorEnsemble(config).fit(baseline), PCAMonitor().fit(baseline.to_numpy())
        second = healthy_run("CHEM_PROCESS", CHEM["run"], seed=seed + 1000).frame
        rows.append(_scored("healthy", seed, second, np.zeros(len(second), bool), ensemble.score(second), monitor))
        for fault in fault_types("CHEM_PROCESS"):
            run = fault_run("CHEM_PROCESS", fault, CHEM["run"], at=CHEM["fault_at"], seed=seed + 2000,
                            tags=_sensor_tag("CHEM_PROCESS", fault, seed))
            window = _window(run)
            rows.append(_scored(fault, seed, run.frame, window, ensemble.score(run.frame), monitor))
    return rows


def pump_rig_runs(seeds, config: EnsembleConfig) -> list[dict]:
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for fault in ("healthy",) + fault_types("PUMP_RIG"):
            if fault == "healthy":
                run = healthy_run("PUMP_RIG", RIG["run"], seed=seed)
            else:
                start = int(rng.integers(RIG["first_start"], RIG["last_start"] + 1))
                end = start + int(rng.integers(RIG["shortest"], RIG["longest"] + 1))
                run = fault_run("PUMP_RIG", fault, RIG["run"], at=start, until=end, seed=seed,
                                tags=_sensor_tag("PUMP_RIG", fault, seed))
            baseline, later = run.frame.iloc[: RIG["baseline"]], run.frame.iloc[RIG["baseline"] :]
            ensemble, monitor = DetectorEnsemble(config).fit(baseline), PCAMonitor().fit(baseline.to_numpy())
            _, state = ensemble.score_with_state(baseline)
            scores, _ = ensemble.score_with_state(later, state)
            window = _window(run)[RIG["baseline"] :]
            rows.append(_scored(fault, seed, later, window, scores, monitor))
    return rows


def _sensor_tag(equipment_type: str, fault: str, seed: int) -> tuple[str, ...]:
    """A sensor fault's tag, drawn per seed from the plant's candidates; () for the faults whose tags are fixed."""
    if fault not in ("step", "drift", "spikes", "stuck", "variance"):
        return ()
    candidates = sensor_fault_tags(equipment_type)
    return (candidates[int(np.random.default_rng([seed, len(fault)]).integers(len(candidates)))],)


def _window(run) -> np.ndarray:
    index = run.frame.index
    inside = np.zeros(len(index), dtype=bool)
    for fault in run.faults.itertuples():
        inside |= (index >= fault.start) & (index <= fault.end)
    return inside


def _scored(fault, seed, frame, window, scores, monitor) -> dict:
    ours, pointwise, theirs = (
        scores["alarm"].to_numpy(), (scores["fused_z"] >= 3.0).to_numpy(), monitor.alarms(frame.to_numpy())
    )
    out = {"fault": fault, "seed": seed, "healthy_points": int((~window).sum()), "fault_points": int(window.sum())}
    for name, alarms in (("ours", ours), ("ours_pointwise", pointwise), ("pca_t2_q", theirs)):
        out[f"{name}_false"] = int(alarms[~window].sum())
        out[f"{name}_detected"] = int(alarms[window].sum())
    return out


def _summary(rows: list[dict]) -> dict:
    table = pd.DataFrame(rows)
    faults = table[table["fault"] != "healthy"]
    out = {"runs": len(table), "seeds": sorted(set(table["seed"]))}
    for name in ("ours", "ours_pointwise", "pca_t2_q"):
        rate = faults.groupby("fault")[f"{name}_detected"].sum() / faults.groupby("fault")["fault_points"].sum()
        out[name] = {
            "false_alarm_rate": round(float(table[f"{name}_false"].sum() / table["healthy_points"].sum()), 4),
            "detection_rate": {k: round(float(v), 3) for k, v in rate.items()},
            "fault_types_found": int((rate >= FOUND_RATE).sum()),
        }
    out["fault_types"] = int(faults["fault"].nunique())
    ours, theirs = out["ours"], out["pca_t2_q"]
    out["more_found_with_fewer_false_alarms"] = bool(
        ours["fault_types_found"] >= theirs["fault_types_found"] and ours["false_alarm_rate"] < theirs["false_alarm_rate"]
    )
    return out
