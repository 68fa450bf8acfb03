"""What an ingest step did to the data, as a plain dataclass: every dropped row and tag is counted here
with its reason, so nothing is ever lost silently."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from acm_assets.ingest.tags import TagInfo

MAX_LISTED_GAPS = 100


def _iso(value: pd.Timestamp | None) -> str | None:
    return None if value is None else value.isoformat()


def _spans(spans: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[list[str]]:
    return [[start.isoformat(), end.isoformat()] for start, end in spans[:MAX_LISTED_GAPS]]


@dataclass
class IngestReport:
    """Row counts in and out (and why), tag quality, cadence and gaps of one read.

    `rows_out == rows_in - sum(dropped_rows.values()) + inserted_rows`. `gaps` lists every step longer
    than one cadence as (last sample before, first sample after); `segment_breaks` are the gaps too long
    to interpolate. `missing_share` is measured on the kept rows before interpolation. `header_rows`
    counts the tag name row and every header row below it (description, units, other labelled rows,
    empty ones included); header rows are never in `rows_in`, so never counted as bad timestamps.
    """

    source: str
    rows_in: int = 0
    rows_out: int = 0
    dropped_rows: dict[str, int] = field(default_factory=dict)
    overlap_rows: int = 0
    previous_end: pd.Timestamp | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    cadence: pd.Timedelta | None = None
    gaps: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)
    segment_breaks: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)
    segments: int = 0
    inserted_rows: int = 0
    interpolated_points: int = 0
    missing_share: dict[str, float] = field(default_factory=dict)
    dropped_tags: dict[str, str] = field(default_factory=dict)
    tags: dict[str, TagInfo] = field(default_factory=dict)
    timezone: str | None = None
    timestamp_column: str | None = None
    header_rows: int = 0
    timestamp_formats: dict[str, int] = field(default_factory=dict)

    def to_metadata(self) -> dict:
        """Plain JSON-able values (ISO strings, seconds, lists); gap lists are capped at MAX_LISTED_GAPS."""
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped_rows": dict(self.dropped_rows),
            "overlap_rows": self.overlap_rows,
            "previous_end": _iso(self.previous_end),
            "start": _iso(self.start),
            "end": _iso(self.end),
            "cadence_seconds": None if self.cadence is None else self.cadence.total_seconds(),
            "gap_count": len(self.gaps),
            "gaps": _spans(self.gaps),
            "segment_break_count": len(self.segment_breaks),
            "segment_breaks": _spans(self.segment_breaks),
            "segments": self.segments,
            "inserted_rows": self.inserted_rows,
            "interpolated_points": self.interpolated_points,
            "missing_share": {tag: float(share) for tag, share in self.missing_share.items()},
            "dropped_tags": dict(self.dropped_tags),
            "tags": {name: info.to_metadata() for name, info in self.tags.items()},
            "timezone": self.timezone,
            "timestamp_column": self.timestamp_column,
            "header_rows": self.header_rows,
            "timestamp_formats": dict(self.timestamp_formats),
        }
