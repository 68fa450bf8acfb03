"""Which episode changes are news: a new episode, a rise in its severity band, its close. What was told is
remembered (the sensor keeps it in its cursor), so each change makes exactly one message per channel."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from acm_assets.notifications.outbox import Message
from acm_assets.outputs.limits import describe_time_to_limit
from acm_assets.outputs.triage import episode_key

SEVERITIES = ("alert", "high", "critical")
# Peak fused z at which each band starts, in multiples of the alert level.
SEVERITY_FACTORS = (1.0, 2.0, 4.0)
OPENED, ROSE, CLOSED = "opened", "escalated", "closed"


def severity(peak_z: float, alert_z: float) -> int:
    """0 below the alert level, else the index + 1 of the highest band the peak reached."""
    if peak_z is None or pd.isna(peak_z):
        return 0
    return sum(peak_z >= factor * alert_z for factor in SEVERITY_FACTORS)


@dataclass
class Told:
    """What the notifications said so far: key -> [severity, open], and the last scored day looked at."""

    episodes: dict[str, list] = field(default_factory=dict)
    day: str | None = None

    def to_json(self) -> dict:
        return {"episodes": self.episodes, "day": self.day}

    @classmethod
    def from_json(cls, data: dict | None) -> Told:
        data = data or {}
        return cls(dict(data.get("episodes", {})), data.get("day"))


def changes(episodes: pd.DataFrame, told: Told, alert_z: float) -> list[tuple[str, pd.Series, int]]:
    """(kind, episode row, severity) per change since `told`; `episodes` has Code and the ACM_Episodes columns."""
    found = []
    for _, row in episodes.sort_values(["StartTime", "Code"]).iterrows():
        key = episode_key(row["Code"], row["EpisodeID"])
        level, is_open = severity(row["PeakZ"], alert_z), bool(row["IsOpen"])
        before = told.episodes.get(key)
        if before is None:
            found.append((OPENED, row, level))
        elif level > before[0]:
            found.append((ROSE, row, level))
        if not is_open and (before is None or before[1]):
            found.append((CLOSED, row, level))
    return found


def remember(told: Told, episodes: pd.DataFrame, alert_z: float, read_from: dt.date | None) -> Told:
    """The new memory: every episode read now as it is; closed ones not read any more are forgotten (a later
    tick never reads them again: they sit on days before the ones it reads)."""
    kept = {key: state for key, state in told.episodes.items() if state[1] or read_from is None}
    for _, row in episodes.iterrows():
        key = episode_key(row["Code"], row["EpisodeID"])
        level = max(severity(row["PeakZ"], alert_z), told.episodes.get(key, [0])[0])
        kept[key] = [level, bool(row["IsOpen"])]
    last = max([pd.Timestamp(d).date() for d in episodes["Day"]], default=None)
    day = max(filter(None, [last, pd.Timestamp(told.day).date() if told.day else None]), default=None)
    return Told(kept, day.isoformat() if day else None)


def messages(found: list[tuple[str, pd.Series, int]], channels: list[str]) -> list[Message]:
    """One message per change and channel; its text is what a Slack/Teams channel and an e-mail show."""
    out = []
    for kind, row, level in found:
        key = episode_key(row["Code"], row["EpisodeID"])
        subject, text = _text(kind, row, level, key)
        for channel in channels:
            change = f"{kind}|{level}" if kind == ROSE else kind
            out.append(Message(f"{key}|{change}|{channel}", channel, int(row["EquipID"]), row["Code"],
                               int(row["EpisodeID"]), kind, subject, text))
    return out


def _text(kind: str, row: pd.Series, level: int, key: str) -> tuple[str, str]:
    band = SEVERITIES[level - 1] if level else "below alert"
    start = f"{pd.Timestamp(row['StartTime']):%Y-%m-%d %H:%M}"
    what = {OPENED: f"new episode ({band})", ROSE: f"severity rose to {band}", CLOSED: "episode closed"}[kind]
    subject = f"ACM {row['Code']}: {what}"
    span = f"{start} .. {pd.Timestamp(row['EndTime']):%Y-%m-%d %H:%M} UTC" if kind == CLOSED else f"since {start} UTC"
    lines = [f"{subject} - {key}", span]
    lines.append(f"peak z {row['PeakZ']:.1f}, alert {row['AlertShare']:.0%} of its points" if pd.notna(row["PeakZ"])
                 and pd.notna(row["AlertShare"]) else "peak z unknown")
    if row.get("Culprits"):
        lines.append(f"top culprits: {row['Culprits']}")
    if bool(row["IsOpen"]):  # a closed episode heads for no limit any more
        lines.append(describe_time_to_limit(row))
    lines.append(f"triage: acm episodes triage {key} --as acknowledged|fault|normal")
    return subject, "\n".join(lines)
