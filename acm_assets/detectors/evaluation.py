"""Scoring the detector against labelled faults: detection, delay, culprits and false alarms."""

from __future__ import annotations

import numpy as np
import pandas as pd

SINGLE_TAG_FAULTS = ("step", "drift", "spikes", "stuck", "variance")


def match_faults(episodes: pd.DataFrame, faults: pd.DataFrame, cadence: pd.Timedelta) -> pd.DataFrame:
    """One row per fault: detected (an episode overlaps its window), delay from the fault start to the first
    overlapping episode's start, the fault level reached by then (share of a ramp fault's magnitude), and
    the rank of the faulted tag among that episode's culprits."""
    rows = []
    for fault in faults.itertuples():
        hits = episodes[(episodes["start"] <= fault.end) & (episodes["end"] >= fault.start)]
        record = {"fault_id": fault.fault_id, "type": fault.type, "tags": list(fault.tags), "magnitude": fault.magnitude,
                  "detected": not hits.empty, "delay_samples": np.nan, "level_at_detection": np.nan,
                  "culprit_rank": np.nan}
        if not hits.empty:
            first = hits.sort_values("start").iloc[0]
            delay = max(first["start"] - fault.start, pd.Timedelta(0))
            record["delay_samples"] = delay / cadence
            span = fault.end - fault.start
            elapsed = min(delay / span, 1.0) if span > pd.Timedelta(0) else 1.0
            record["level_at_detection"] = abs(fault.magnitude) * elapsed
            target = fault.tags[-1]  # correlation_break: the broken tag is listed last
            ranks = [c.index(target) + 1 for c in hits["culprits"] if target in c]
            record["culprit_rank"] = min(ranks) if ranks else np.inf
        rows.append(record)
    return pd.DataFrame(rows)


def false_alarms(scores: pd.DataFrame, episodes: pd.DataFrame) -> dict:
    """Episodes and alarmed points on a fault-free span, with the span's length in days."""
    days = (scores.index[-1] - scores.index[0]) / pd.Timedelta(days=1) if len(scores) else 0.0
    return {
        "days": round(float(days), 3),
        "false_episodes": int(len(episodes)),
        "false_episodes_per_30d": round(30.0 * len(episodes) / days, 3) if days else None,
        "point_alarm_rate": round(float(scores["alarm"].mean()), 5) if len(scores) else None,
        "point_alert_rate": round(float((scores["fused_z"] >= 3.0).mean()), 5) if len(scores) else None,
    }
