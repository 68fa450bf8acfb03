"""Strict, per-row timestamp parsing against an explicit list of formats.

Every row tries the formats in order and takes the first that matches (one vectorised
`pandas.to_datetime(format=..., errors="coerce")` pass per format over the rows still unparsed), so a
file mixing `05-06-2012 14:00` and `5/21/2012 14:00` parses completely. No format is guessed from the
first row and no day-first reading is ever tried unless a source lists one.

Time zones: a source declares its IANA zone (default UTC); values are stored as UTC. ISO 8601 values
with an explicit offset (`Z`, `+02:00`) are converted by that offset whatever the declared zone.
Daylight-saving edges, decided here once:
- ambiguous wall-clock times (the repeated hour when clocks fall back) are read as the first,
  summer-time instant; a later row repeating the same wall-clock time is the second, standard-time
  instant. Historians that write the repeated hour twice therefore keep both hours, in file order.
- nonexistent wall-clock times (inside the spring-forward gap) cannot have been recorded by a correct
  clock: they count as invalid timestamps (`nonexistent_local_times`) under the same 0.5% budget as
  unparseable ones, rather than being shifted onto a neighbour's timestamp.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

import numpy as np
import pandas as pd

from acm_assets.ingest.errors import IngestError

ISO8601 = "ISO8601"
DEFAULT_TIMESTAMP_FORMATS: tuple[str, ...] = tuple(
    f"%m{sep}%d{sep}%Y {time}"
    for sep in ("/", "-")
    for time in ("%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "%I:%M %p", "%I:%M:%S %p")
) + (ISO8601,)
MAX_INVALID_SHARE = 0.005

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}"
_ISO_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


@dataclass
class ParsedTimestamps:
    """UTC timestamps aligned to the input (NaT where invalid) and why each invalid row is invalid."""

    values: pd.Series
    unparseable: pd.Series
    nonexistent: pd.Series
    formats: dict[str, int]


def match_formats(values: pd.Series, formats=DEFAULT_TIMESTAMP_FORMATS) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per-row format detection: (naive wall-clock times, naive UTC times of rows with an explicit
    offset, the format that matched each row). Unmatched rows are NaT / None."""
    text = values.astype(object).str.strip()
    wall = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    utc = wall.copy()
    matched = np.full(len(text), None, dtype=object)
    pending = text.notna().to_numpy()
    for fmt in formats:
        positions = np.flatnonzero(pending)
        if not len(positions):
            break
        rows = text.iloc[positions]
        if fmt == ISO8601:
            iso = rows.str.match(_ISO_DATE).to_numpy(dtype=bool)
            positions, rows = positions[iso], rows[iso]
            offset = rows.str.contains(_ISO_OFFSET).to_numpy(dtype=bool)
            aware = pd.to_datetime(rows[offset], format=fmt, utc=True, errors="coerce")
            utc[positions[offset]] = aware.dt.tz_localize(None).to_numpy()
            wall[positions[~offset]] = pd.to_datetime(rows[~offset], format=fmt, errors="coerce").to_numpy()
        else:
            wall[positions] = pd.to_datetime(rows, format=fmt, errors="coerce").to_numpy()
        hits = positions[~(np.isnat(wall[positions]) & np.isnat(utc[positions]))]
        matched[hits] = fmt
        pending[hits] = False
    return (
        pd.Series(wall, index=values.index),
        pd.Series(utc, index=values.index),
        pd.Series(matched, index=values.index, dtype=object),
    )


def check_timezone(timezone: str, *, source: str) -> str:
    """A misspelt zone fails before any parsing, naming the source that declared it."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise IngestError(f"{source}: unknown time zone {timezone!r} (use an IANA name such as 'UTC')") from exc
    return timezone


def to_utc_series(
    wall: pd.Series, utc: pd.Series, timezone: str, seen_ambiguous: set | None = None
) -> tuple[pd.Series, pd.Series]:
    """Localise wall-clock times in `timezone` by the DST rules in the module docstring; return
    (UTC timestamps, mask of nonexistent local times). `seen_ambiguous` carries the ambiguous wall-clock times
    of earlier chunks of the same file, so a repeat in a later chunk is still the second instant."""
    first_occurrence = ~wall.duplicated(keep="first").to_numpy()
    if seen_ambiguous:
        first_occurrence &= ~wall.isin(seen_ambiguous).to_numpy()
    local = pd.DatetimeIndex(wall).tz_localize(timezone, ambiguous=first_occurrence, nonexistent="NaT")
    result = pd.Series(local.tz_convert("UTC"), index=wall.index)
    nonexistent = result.isna() & wall.notna()
    if seen_ambiguous is not None and timezone != "UTC":
        unresolved = pd.DatetimeIndex(wall).tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").isna()
        seen_ambiguous.update(wall[unresolved & wall.notna().to_numpy() & ~nonexistent.to_numpy()])
    has_offset = utc.notna()
    result[has_offset] = utc[has_offset].dt.tz_localize("UTC")
    return result, nonexistent


class TimestampParser:
    """Parses one source's timestamps in chunks (`parse`, which never raises) and checks the invalid budget over
    all of them (`finish`): a file streamed in chunks is judged as a whole, with the same counts."""

    def __init__(
        self, *, source: str, formats=None, timezone: str = "UTC", max_invalid_share: float = MAX_INVALID_SHARE
    ):
        self.source, self.timezone, self.max_invalid_share = source, timezone, max_invalid_share
        self.formats = tuple(DEFAULT_TIMESTAMP_FORMATS if formats is None else formats)
        check_timezone(timezone, source=source)
        self.total = self.unparseable = self.nonexistent = 0
        self.counts: dict[str, int] = {}
        self._examples: list[tuple[int, str]] = []
        self._seen_ambiguous: set = set()

    def parse(self, values: pd.Series) -> ParsedTimestamps:
        """`values` is indexed by file line number (used in messages)."""
        wall, utc, matched = match_formats(values, self.formats)
        parsed, nonexistent = to_utc_series(wall, utc, self.timezone, self._seen_ambiguous)
        unparseable = matched.isna()
        invalid = unparseable | nonexistent
        self.total += len(values)
        self.unparseable += int(unparseable.sum())
        self.nonexistent += int(nonexistent.sum())
        self._examples += list(values[invalid].head(3 - len(self._examples)).items())
        for fmt, count in matched.value_counts().items():
            self.counts[fmt] = self.counts.get(fmt, 0) + int(count)
        return ParsedTimestamps(values=parsed, unparseable=unparseable, nonexistent=nonexistent, formats={})

    def finish(self) -> dict[str, int]:
        """Raise IngestError if no row or more than `max_invalid_share` of the rows are invalid; else the count
        of rows each format matched."""
        total, bad = self.total, self.unparseable + self.nonexistent
        examples = ", ".join(f"{value!r} (line {line})" for line, value in self._examples)
        if total and bad == total:
            raise IngestError(
                f"{self.source}: none of the {total} timestamps parses with formats {list(self.formats)}"
                f" in time zone {self.timezone}; examples: {examples}"
            )
        if bad > self.max_invalid_share * total:
            raise IngestError(
                f"{self.source}: {bad} of {total} timestamps ({bad / total:.2%}) are invalid, more than the"
                f" {self.max_invalid_share:.1%} allowed ({self.unparseable} match none of {list(self.formats)},"
                f" {self.nonexistent} do not exist in {self.timezone}); examples: {examples}"
            )
        return {fmt: self.counts[fmt] for fmt in self.formats if fmt in self.counts}


def parse_timestamps(
    values: pd.Series,
    *,
    source: str,
    formats=None,
    timezone: str = "UTC",
    max_invalid_share: float = MAX_INVALID_SHARE,
) -> ParsedTimestamps:
    """Parse strictly: raise IngestError if no row or more than `max_invalid_share` of the rows are
    invalid. `values` is indexed by file line number (used in messages); `source` names the file/column."""
    parser = TimestampParser(source=source, formats=formats, timezone=timezone, max_invalid_share=max_invalid_share)
    parsed = parser.parse(values)
    parsed.formats = parser.finish()
    return parsed
