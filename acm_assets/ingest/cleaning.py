"""Cleaning shared by every historian source (CSV exports and SQL tables): order, duplicate and future
rows, useless tags, native cadence, short-gap interpolation and segment breaks.

Gap rule: a step between consecutive samples counts as `round(step / cadence)` cadences (so minute
jitter such as `2:59` does not matter). Steps of 2..`max_gap_cadences` cadences are filled on the native
grid (`previous + k * cadence`) by time-based interpolation; longer steps are segment breaks and are
never bridged. A tag's missing values are interpolated under the same rule (the span between its valid
neighbours). Nothing is ever resampled to a finer grid than the data's own median step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.report import IngestReport

INDEX_NAME = "EntryDateTime"


@dataclass
class CleanedFrame:
    """`frame`: UTC-indexed float tags; `segment`: int id per row, a new id after every segment break."""

    frame: pd.DataFrame
    segment: pd.Series
    report: IngestReport


def to_utc(value, *, what: str, source: str) -> pd.Timestamp:
    """Naive timestamps are UTC (the house default); aware ones are converted."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise IngestError(f"{source}: {what} {value!r} is not a timestamp") from exc
    if stamp is pd.NaT:
        raise IngestError(f"{source}: {what} is NaT")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def clean_frame(
    frame: pd.DataFrame,
    *,
    source: str,
    now=None,
    previous_end=None,
    drop_constant: bool = True,
    max_gap_cadences: int = 3,
    report: IngestReport | None = None,
) -> CleanedFrame:
    """Clean one window of one source; see the module docstring for the gap rule.

    `now` (default: current UTC time) bounds future rows; `previous_end` (end of an earlier window) only
    counts overlapping rows, it does not drop them. `drop_constant` drops all-missing and constant tags,
    which is right for a baseline and wrong for a scoring window (its schema comes from the baseline).
    A `report` from a reader is continued (copied, not modified).
    """
    if max_gap_cadences < 1:
        raise ValueError(f"max_gap_cadences must be >= 1, got {max_gap_cadences}")
    report = IngestReport(source=source, rows_in=len(frame)) if report is None else copy.deepcopy(report)
    frame = _validated(frame, source)

    # A stable sort keeps the input order among equal timestamps, so keep="last" means last as given.
    frame = frame.sort_index(kind="mergesort")
    duplicated = frame.index.duplicated(keep="last")
    report.dropped_rows["duplicate_timestamps"] = int(duplicated.sum())
    frame = frame[~duplicated]

    now = to_utc(pd.Timestamp.now(tz="UTC") if now is None else now, what="now", source=source)
    future = frame.index > now
    report.dropped_rows["future"] = int(future.sum())
    frame = frame[~future]

    if previous_end is not None:
        report.previous_end = to_utc(previous_end, what="previous_end", source=source)
        report.overlap_rows = int((frame.index <= report.previous_end).sum())

    if frame.empty:
        raise IngestError(f"{source}: no rows left after cleaning (dropped: {report.dropped_rows})")

    report.missing_share = {tag: float(share) for tag, share in frame.isna().mean().items()}
    if drop_constant:
        useless = _useless_tags(frame)
        report.dropped_tags.update(useless)
        frame = frame.drop(columns=list(useless))
        if frame.columns.empty:
            raise IngestError(f"{source}: no usable tags left: {useless}")

    report.cadence = _cadence(frame.index)
    frame, breaks = _fill_gaps(frame, report, max_gap_cadences)
    segment = pd.Series(
        np.searchsorted(breaks.asi8, frame.index.asi8, side="right").astype("int64"),
        index=frame.index,
        name="segment",
    )
    report.segments = len(breaks) + 1
    report.rows_out = len(frame)
    report.start, report.end = frame.index[0], frame.index[-1]
    return CleanedFrame(frame=frame, segment=segment, report=report)


def _validated(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise IngestError(f"{source}: the frame needs a DatetimeIndex, got {type(frame.index).__name__}")
    if frame.index.hasnans:
        raise IngestError(f"{source}: {int(frame.index.isna().sum())} rows have no timestamp (NaT)")
    if frame.columns.has_duplicates:
        duplicates = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise IngestError(f"{source}: duplicate tag names {duplicates}")
    if frame.columns.empty:
        raise IngestError(f"{source}: the frame has no tag columns")
    not_numeric = [str(tag) for tag in frame.columns if not is_numeric_dtype(frame[tag])]
    if not_numeric:
        raise IngestError(f"{source}: tags are not numeric: {not_numeric}")
    index = frame.index.tz_localize("UTC") if frame.index.tz is None else frame.index.tz_convert("UTC")
    frame = frame.astype("float64").set_axis(index.rename(INDEX_NAME), axis=0)
    infinite = np.isinf(frame)
    if infinite.any().any():
        tags = infinite.any()
        first = frame.index[infinite.any(axis=1)][0].isoformat()
        raise IngestError(f"{source}: infinite values in tags {list(tags.index[tags])} (first at {first})")
    return frame


def _useless_tags(frame: pd.DataFrame) -> dict[str, str]:
    counts = frame.notna().sum()
    low, high = frame.min(), frame.max()
    useless = {}
    for tag in frame.columns:
        if counts[tag] == 0:
            useless[tag] = "all values missing"
        elif low[tag] == high[tag]:
            useless[tag] = f"constant value {low[tag]:g} on all {counts[tag]} non-missing rows"
    return useless


def _cadence(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    if len(index) < 2:
        return None
    return pd.Timedelta(int(np.median(np.diff(index.asi8))), unit="ns")


def _fill_gaps(
    frame: pd.DataFrame, report: IngestReport, max_gap_cadences: int
) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Insert native-grid rows into short gaps, interpolate short missing runs; return the break ends."""
    index = frame.index
    if report.cadence is None:
        return frame, index[:0]
    cadence = report.cadence.value
    before, after = index[:-1], index[1:]
    steps = np.rint(np.diff(index.asi8) / cadence).astype("int64")
    is_gap, is_break = steps >= 2, steps > max_gap_cadences
    report.gaps = list(zip(before[is_gap], after[is_gap]))
    report.segment_breaks = list(zip(before[is_break], after[is_break]))

    fill = is_gap & ~is_break
    missing = steps[fill] - 1
    offsets = np.arange(missing.sum()) - np.repeat(np.cumsum(missing) - missing, missing) + 1
    inserted = np.repeat(before[fill].asi8, missing) + offsets * cadence
    report.inserted_rows = len(inserted)
    if len(inserted):
        grid = index.append(pd.DatetimeIndex(inserted, tz="UTC", name=INDEX_NAME)).sort_values()
        frame = frame.reindex(grid)

    valid = frame.notna()
    if valid.to_numpy().all():  # nothing to interpolate (the common case of a scored day)
        report.interpolated_points = 0
        return frame, after[is_break]
    seconds = (frame.index.asi8 - frame.index.asi8[0]) / 1e9
    times = pd.DataFrame(np.repeat(seconds[:, None], frame.shape[1], axis=1), index=frame.index, columns=frame.columns)
    span = times.where(valid).bfill() - times.where(valid).ffill()
    short = ~valid & (np.rint(span / (cadence / 1e9)) <= max_gap_cadences)
    report.interpolated_points = int(short.to_numpy().sum())
    if report.interpolated_points:
        frame = frame.mask(short, frame.interpolate(method="time", limit_area="inside"))
    return frame, after[is_break]
