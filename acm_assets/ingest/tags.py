"""What an export says about each tag besides its name (multi-row headers: description, units ...), and the
limits a tag's metadata carries."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from acm_assets.ingest.errors import IngestError


@dataclass(frozen=True)
class TagInfo:
    """Tag metadata from a historian export's extra header rows; `attributes` keeps any other rows by label."""

    name: str
    description: str | None = None
    units: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def to_metadata(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "units": self.units,
            "attributes": dict(self.attributes),
        }


# Header-row labels and TagsJSON keys that carry a tag's limits, compared as lowercase letters only ("High
# Limit", "HI_LIMIT" and "high_limit" alike). Top-level keys (what a plant's own tooling writes into TagsJSON)
# come before `attributes` (what a CSV export's labelled header rows became).
HIGH_LIMIT_LABELS = frozenset({"highlimit", "hilimit", "limithigh", "upperlimit", "alarmhigh", "highalarm"})
LOW_LIMIT_LABELS = frozenset({"lowlimit", "lolimit", "limitlow", "lowerlimit", "alarmlow", "lowalarm"})


@dataclass(frozen=True)
class TagLimit:
    """A tag's high and/or low limit (the value it must not cross) and where it was found."""

    high: float | None
    low: float | None
    source: str


def tag_limits(tags: dict[str, dict], source: str) -> dict[str, TagLimit]:
    """The limits a tag metadata mapping ({tag: {..., "high_limit": 95, "attributes": {"Low Limit": "2"}}})
    carries; tags without any are absent. A limit that is no number, or a low limit not below the high one, is
    an error naming `source`, the tag and the value."""
    limits = {}
    for tag, info in tags.items():
        found = {"high": None, "low": None}
        places = [(key, value) for key, value in (info or {}).items() if key != "attributes"]
        places += list(((info or {}).get("attributes") or {}).items())
        for key, value in places:
            label = "".join(ch for ch in str(key).lower() if ch.isalpha())
            side = "high" if label in HIGH_LIMIT_LABELS else "low" if label in LOW_LIMIT_LABELS else None
            if side is None or found[side] is not None or value in (None, ""):
                continue
            found[side] = _limit_value(value, f"{source}: tag {tag!r}, {key!r}")
        if found["high"] is not None or found["low"] is not None:
            limits[tag] = checked_limit(found["high"], found["low"], source, tag)
    return limits


def checked_limit(high, low, source: str, tag: str) -> TagLimit:
    if high is not None and low is not None and not low < high:
        raise IngestError(f"{source}: tag {tag!r} has low limit {low:g} not below its high limit {high:g}")
    return TagLimit(high=high, low=low, source=source)


def _limit_value(value, where: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise IngestError(f"{where}: limit {value!r} is not a number") from None
    if not np.isfinite(number):
        raise IngestError(f"{where}: limit {value!r} is not a finite number")
    return number
