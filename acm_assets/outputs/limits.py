"""Time to a limit on the episode rows: which limit each culprit has, the estimate's columns, and the words an
engineer reads.

Limits come from the historian's tag metadata (`Equipment.TagsJSON`: keys like `high_limit`, or an export's
labelled header rows such as "High Limit") and from the JSON file named by `$ACM_TAG_LIMITS`
({"EQUIP_CODE": {"TAG": {"high": 95.0, "low": 2.0}}}), which takes precedence tag by tag so an operator can
correct a historian's limit without touching the historian.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from acm_assets.detectors.limits import LimitEstimate, time_to_limit_beyond_conditions
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.tags import TagLimit, checked_limit, tag_limits

TAG_LIMITS_ENV = "ACM_TAG_LIMITS"
# Readings before an episode's onset that teach what a tag's conditions (its equipment's other tags) explain of it.
REFERENCE = pd.Timedelta(days=7)
LIMIT_COLUMNS = ["LimitTag", "HoursToLimit", "HoursToLimitLow", "HoursToLimitHigh", "LimitStatus"]
# LimitStatus of an open episode (a closed episode has none: nothing is heading anywhere any more).
ESTIMATED = "estimated"  # hours to the crossing, with an interval (HoursToLimitHigh NULL: not bounded)
BEYOND = "beyond limit"  # the trend is at or past the limit already
NOT_TRENDING = "not trending"  # a limit is known, the readings do not head for it (or are too few to say)
NO_LIMIT = "no limit"  # no culprit has a known limit; LimitTag is the first culprit


def load_limits_file(path: str | Path) -> dict[str, dict[str, TagLimit]]:
    """{equipment code: {tag: limit}} from a limits file; anything malformed is an error naming the file and
    the entry."""
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise IngestError(f"{TAG_LIMITS_ENV}={path}: {exc}") from None
    if not isinstance(content, dict):
        raise IngestError(f"{TAG_LIMITS_ENV}={path}: expected {{equipment code: {{tag: {{high, low}}}}}}")
    limits: dict[str, dict[str, TagLimit]] = {}
    for code, tags in content.items():
        if not isinstance(tags, dict):
            raise IngestError(f"{path}: equipment {code!r}: expected {{tag: {{high, low}}}}, got {tags!r}")
        limits[code] = {}
        for tag, entry in tags.items():
            where = f"{path}: equipment {code!r}, tag {tag!r}"
            if not isinstance(entry, dict) or not entry or set(entry) - {"high", "low"}:
                raise IngestError(f"{where}: expected {{\"high\": number, \"low\": number}} (either), got {entry!r}")
            values = {side: _number(entry.get(side), f"{where}, {side}") for side in ("high", "low")}
            limits[code][tag] = checked_limit(values["high"], values["low"], str(path), tag)
    return limits


def _number(value, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise IngestError(f"{where}: limit {value!r} is not a finite number")
    return float(value)


def equipment_limits(code: str, tags: Mapping[str, dict], configured: Mapping[str, TagLimit]) -> dict[str, TagLimit]:
    """The limits of one equipment: its tag metadata's, overridden tag by tag by the configured ones."""
    return {**tag_limits(dict(tags), f"Equipment.TagsJSON of {code}"), **configured}


Readings = Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame]


def episode_time_to_limit(episode, limits: Mapping[str, TagLimit], readings: Readings) -> dict:
    """The LIMIT_COLUMNS of one episode (a row of `DetectorEnsemble.episodes`): for an open episode, the
    estimate of its culprit with a limit whose crossing comes first (a culprit without a trend only where none
    has one). `readings(start, end)` gives the equipment's readings (all tags) in [start, end]: from REFERENCE
    before the onset (what the other tags explain of the culprit) to the episode's last point."""
    columns = dict.fromkeys(LIMIT_COLUMNS)
    if not episode.open:
        return columns
    culprits = list(episode.culprits)
    with_limit = [tag for tag in culprits if tag in limits]
    if not with_limit:
        return {**columns, "LimitTag": culprits[0] if culprits else None, "LimitStatus": NO_LIMIT}
    start = episode.onset if pd.notna(episode.onset) else episode.start
    frame = readings(start - REFERENCE, episode.end)
    estimates = [_estimate(tag, limits[tag], frame, start, culprits) for tag in with_limit]
    timed = [e for e in estimates if e.hours is not None]
    if not timed:
        return {**columns, "LimitTag": estimates[0].tag, "LimitStatus": NOT_TRENDING}
    first = min(timed, key=lambda e: e.hours)
    return {
        "LimitTag": first.tag,
        "HoursToLimit": first.hours,
        "HoursToLimitLow": first.low,
        "HoursToLimitHigh": first.high,
        "LimitStatus": BEYOND if first.hours == 0.0 else ESTIMATED,
    }


def _estimate(tag: str, limit: TagLimit, frame: pd.DataFrame, onset: pd.Timestamp, culprits) -> LimitEstimate:
    """The sooner of the high and low limit's estimates (a tag heads for at most one of them)."""
    found = [
        time_to_limit_beyond_conditions(tag, frame, onset, value, direction, exclude=culprits)
        for value, direction in ((limit.high, "above"), (limit.low, "below"))
        if value is not None
    ]
    timed = [e for e in found if e.hours is not None]
    return min(timed, key=lambda e: e.hours) if timed else found[0]


def describe_time_to_limit(row: Mapping) -> str:
    """One line for a person: "TAG reaches its limit in 14 h (9-23 h)", or what stands in for a number."""
    status, tag = _value(row, "LimitStatus"), _value(row, "LimitTag")
    if status is None:
        is_open = _value(row, "IsOpen")
        closed = is_open is not None and not is_open
        return "no time to a limit (episode closed)" if closed else "time to a limit not estimated"
    if status == NO_LIMIT:
        return f"no limit known for {tag}" if tag else "no limit known (the episode names no culprit)"
    if status == NOT_TRENDING:
        return f"{tag} is not trending toward its limit"
    if status == BEYOND:
        return f"{tag} is at or beyond its limit"
    hours, low, high = (_value(row, c) for c in ("HoursToLimit", "HoursToLimitLow", "HoursToLimitHigh"))
    interval = f"at least {_duration(low)}" if high is None else f"{_span(low, high)}"
    return f"{tag} reaches its limit in {_duration(hours)} ({interval})"


def _value(row: Mapping, name: str):
    value = row.get(name) if hasattr(row, "get") else getattr(row, name, None)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return bool(value) if isinstance(value, (bool, np.bool_)) else value


def _duration(hours: float) -> str:
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _span(low: float, high: float) -> str:
    if high < 48:
        return f"{low:.0f}-{high:.0f} h"
    return f"{low / 24:.1f}-{high / 24:.1f} days"
