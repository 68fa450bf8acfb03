"""Generalisation sweeps: one default configuration at every cadence, tag count and baseline length.

Each cell is one simulated equipment type at one cadence with a baseline of some length, fitted with
`EnsembleConfig()` defaults. Its second healthy run is the span that follows the baseline in the same run
(as long as the baseline, at least TEST_SAMPLES samples, at most TEST_SPAN), scored continuing the
baseline's state; its faulted run is the same span with the type's default faults in it (the machines' seven,
the plants' eleven). A cell reports the alarm share of the healthy span's running points, its episodes, and
which faults an episode overlapped.

Types: FD_FAN (10 tags, a redundant flow pair), COND_PUMP (11, three phase currents), GAS_TURBINE (12),
PUMP_RIG (8, at 1 s) and CHEM_PROCESS (52, five flow/valve pairs; 50 after its two constant valves). The
machines are also swept with cryptic tag names (`DEMO.SIM.xx`), which name no load.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_assets.detectors import DetectorEnsemble, EnsembleConfig, ModelType
from acm_assets.detectors.evaluation import match_faults
from acm_assets.simulation.simulator import simulate

TEST_SAMPLES = 1000
TEST_SPAN = pd.Timedelta(days=30)
MAX_ROWS = 150_000  # the sweep leaves out cells that would simulate more rows than this
MACHINES = ("FD_FAN", "COND_PUMP", "GAS_TURBINE")
# (cadence, baseline lengths: an int is samples, a string a duration)
MACHINE_GRID = (
    ("1s", (400, 2000)),
    ("1min", (400, 2000, "14D", "90D")),
    ("10min", (400, 2000, "14D", "90D")),
    ("1h", (400, 2000, "90D")),
)
PLANT_GRID = {
    "PUMP_RIG": (("1s", (400, 2000, "1D")),),
    "CHEM_PROCESS": (("3min", (400, 500, 2000, "14D")), ("1min", (2000, "14D")), ("10min", (500, 2000))),
}
CRYPTIC = (("10min", ("14D",)), ("1h", ("90D",)))
TARGETS = {"healthy_running_alarm_share": "<= 0.01 in every cell", "faults_detected": ">= 0.90, each type >= 0.75"}


def evaluate(seeds, config: EnsembleConfig | None = None) -> dict:
    config = config or EnsembleConfig()
    cells = []
    for seed in seeds:
        for equipment_type in MACHINES:
            for cadence, lengths in MACHINE_GRID:
                cells += [_cell(equipment_type, cadence, n, seed, config) for n in lengths]
            for cadence, lengths in CRYPTIC:
                cells += [_cell(equipment_type, cadence, n, seed, config, "cryptic") for n in lengths]
        for equipment_type, grid in PLANT_GRID.items():
            for cadence, lengths in grid:
                cells += [_cell(equipment_type, cadence, n, seed, config) for n in lengths]
    cells = [c for c in cells if c is not None]
    return {"targets": TARGETS, "cells": cells, "summary": _summary(cells)}


def _cell(equipment_type, cadence, length, seed, config, tag_names="plant") -> dict | None:
    step = pd.Timedelta(cadence)
    baseline_rows = length if isinstance(length, int) else int(pd.Timedelta(length) / step)
    test_rows = min(max(baseline_rows, TEST_SAMPLES), int(TEST_SPAN / step))
    if baseline_rows + test_rows > MAX_ROWS:
        return None
    cell = {"type": equipment_type, "cadence": cadence, "baseline_rows": baseline_rows, "test_rows": test_rows,
            "tag_names": tag_names, "seed": seed}
    common = dict(samples=baseline_rows + test_rows, cadence=cadence, seed=seed, tag_names=tag_names)
    healthy = simulate(equipment_type, faults=None, **common).frame
    baseline, later = healthy.iloc[:baseline_rows], healthy.iloc[baseline_rows:]
    try:
        ensemble = DetectorEnsemble(config).fit(baseline)
    except ValueError as exc:  # a baseline the library refuses is a result of the sweep, with its reason
        return {**cell, "fit_error": f"{type(exc).__name__}: {exc}"}
    regime = ensemble.models[ModelType.regime_model]
    cell.update(tags=len(regime.tags), redundant_groups=len(regime.redundant),
                stop_detection=regime.params["stop_detection"]["method"])
    scores, episodes = _score_after(ensemble, baseline, later)
    running = scores["operating_state"] == "running"
    cell["healthy"] = {
        "running_alarm_share": round(float(scores.loc[running, "alarm"].mean()), 5) if running.any() else None,
        "episodes": int(len(episodes)),
    }
    try:
        faulted = simulate(equipment_type, faults="default", faults_after=later.index[0], **common)
    except ValueError as exc:  # the machine is off through too much of the span to place every fault
        cell["faulted"] = {"skipped": str(exc)}
        return cell
    fault_scores, fault_episodes = _score_after(ensemble, faulted.frame.iloc[:baseline_rows],
                                                faulted.frame.iloc[baseline_rows:])
    matched = match_faults(fault_episodes, faulted.faults, step)
    found = dict(zip(matched["type"], matched["detected"].astype(bool)))
    cell["faulted"] = {"detected": found}
    return cell


def _score_after(ensemble, baseline, later):
    _, state = ensemble.score_with_state(baseline)
    scores, _ = ensemble.score_with_state(later, state)
    return scores, ensemble.episodes(scores)


def _summary(cells: list[dict]) -> dict:
    fitted = [c for c in cells if "healthy" in c]
    shares = [c["healthy"]["running_alarm_share"] for c in fitted if c["healthy"]["running_alarm_share"] is not None]
    detected = pd.DataFrame(
        [{"type": t, "found": f} for c in fitted if "detected" in c.get("faulted", {})
         for t, f in c["faulted"]["detected"].items()]
    )
    by_cadence = {}
    for cadence in dict.fromkeys(c["cadence"] for c in fitted):
        part = [c for c in fitted if c["cadence"] == cadence]
        values = [c["healthy"]["running_alarm_share"] for c in part if c["healthy"]["running_alarm_share"] is not None]
        by_cadence[cadence] = {
            "cells": len(part),
            "healthy_alarm_share_max": round(float(np.max(values)), 5) if values else None,
            "cells_above_1_percent": int(sum(v > 0.01 for v in values)),
        }
    return {
        "cells": len(cells),
        "fit_errors": [f"{c['type']} {c['cadence']} {c['baseline_rows']}: {c['fit_error']}" for c in cells
                       if "fit_error" in c],
        "healthy_alarm_share_median": round(float(np.median(shares)), 5) if shares else None,
        "healthy_cells_above_1_percent": [
            f"{c['type']} {c['cadence']} {c['baseline_rows']} {c['tag_names']}: {c['healthy']['running_alarm_share']}"
            for c in fitted if (c["healthy"]["running_alarm_share"] or 0) > 0.01
        ],
        "by_cadence": by_cadence,
        "detected_overall": round(float(detected["found"].mean()), 4) if len(detected) else None,
        "detected_per_type": (
            {k: round(float(v), 4) for k, v in detected.groupby("type")["found"].mean().items()} if len(detected) else {}
        ),
    }
