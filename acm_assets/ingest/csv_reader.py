"""Strict reader for historian CSV exports: every cell is read as text first, so each conversion (the
timestamp, every number, every missing marker) is explicit and every failure is counted or raised.

Shapes handled: UTF-8 with or without a byte-order mark, quoted fields (numbers included), blank lines,
a trailing delimiter (an unnamed, empty last column), and multi-row headers of any length: the rows right
after the tag name row that hold no number and either some text or a label (descriptions, units, extended
names, empty labelled rows) become `TagInfo` metadata, never data, and never count as bad timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from acm_assets.ingest.cleaning import INDEX_NAME, CleanedFrame, clean_frame
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.report import IngestReport
from acm_assets.ingest.tags import TagInfo
from acm_assets.ingest.timestamps import DEFAULT_TIMESTAMP_FORMATS, MAX_INVALID_SHARE, match_formats, parse_timestamps

TIMESTAMP_COLUMN_NAMES = frozenset({"ts", "timestamp", "entrydatetime", "time", "datetime", "date"})
MISSING_VALUES = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "#na", "null", "none"})
DETECTION_ROWS = 1000
HEADER_SCAN_ROWS = 16
DESCRIPTION_LABELS = frozenset({"description", "desc", "descriptor"})
UNITS_LABELS = frozenset({"units", "unit", "eu", "uom", "engunits", "engineeringunits", "unitofmeasure"})


@dataclass
class HistorianExport:
    """`frame`: parsed rows in file order (UTC index, float64 tags); `tags`: metadata from the header."""

    frame: pd.DataFrame
    tags: dict[str, TagInfo]
    report: IngestReport

    def clean(self, **options) -> CleanedFrame:
        """`clean_frame` on this export, continuing its report (options as for `clean_frame`)."""
        return clean_frame(self.frame, source=self.report.source, report=self.report, **options)


def read_historian_csv(
    path,
    *,
    timestamp_formats: Iterable[str] | None = None,
    timezone: str = "UTC",
    timestamp_column: str | None = None,
    missing_values: Iterable[str] = (),
    encoding: str = "utf-8",
    max_invalid_share: float = MAX_INVALID_SHARE,
) -> HistorianExport:
    """Read one export strictly.

    `timestamp_formats` (default `DEFAULT_TIMESTAMP_FORMATS`) are tried per row; `timezone` is the
    zone the export's wall-clock times are in. `missing_values` adds markers (case-insensitive) to
    `MISSING_VALUES`, e.g. a historian's "I/O Timeout". A numeric tag holding any other text raises.
    """
    source = str(path)
    formats = tuple(DEFAULT_TIMESTAMP_FORMATS if timestamp_formats is None else timestamp_formats)
    markers = MISSING_VALUES | {marker.strip().lower() for marker in missing_values}
    cells = _read_cells(Path(path), encoding, source)
    cells = _named_columns(cells, source)
    ts_column = timestamp_column or _timestamp_column(cells, formats, source)
    if ts_column not in cells.columns:
        raise IngestError(f"{source}: timestamp column {ts_column!r} not found; columns: {list(cells.columns)}")

    header_rows = _header_row_count(cells, ts_column, formats, markers)
    tags = _tag_info(cells.iloc[:header_rows].apply(lambda column: column.str.strip()), ts_column, source)
    data = cells.iloc[header_rows:]
    if data.empty:
        raise IngestError(f"{source}: the file has a header ({header_rows + 1} rows) but no data rows")

    parsed = parse_timestamps(
        data[ts_column],
        source=f"{source} (column {ts_column!r})",
        formats=formats,
        timezone=timezone,
        max_invalid_share=max_invalid_share,
    )
    valid = parsed.values.notna()
    values, text_columns = _numeric_tags(data.loc[valid].drop(columns=ts_column), markers, source)
    if not values:
        raise IngestError(
            f"{source}: no numeric tags (columns besides {ts_column!r}: {list(data.columns.drop(ts_column))})"
        )
    index = pd.DatetimeIndex(parsed.values[valid], name=INDEX_NAME)
    frame = pd.DataFrame({tag: column.to_numpy() for tag, column in values.items()}, index=index)
    report = IngestReport(
        source=source,
        rows_in=len(data),
        rows_out=len(frame),
        dropped_rows={
            "unparseable_timestamps": int(parsed.unparseable.sum()),
            "nonexistent_local_times": int(parsed.nonexistent.sum()),
        },
        dropped_tags=text_columns,
        tags={tag: info for tag, info in tags.items() if tag in values},
        timezone=timezone,
        timestamp_column=ts_column,
        header_rows=header_rows + 1,
        timestamp_formats=parsed.formats,
    )
    return HistorianExport(frame=frame, tags=report.tags, report=report)


def _read_cells(path: Path, encoding: str, source: str) -> pd.DataFrame:
    """All cells as text, indexed by 1-based file line (blank lines dropped after numbering)."""
    # The byte-order mark is optional in UTF-8 exports.
    codec = "utf-8-sig" if re.fullmatch(r"utf-?8", encoding, flags=re.IGNORECASE) else encoding
    try:
        cells = pd.read_csv(path, header=None, dtype=str, na_filter=False, encoding=codec, skip_blank_lines=False)
    except FileNotFoundError as exc:
        raise IngestError(f"{source}: file not found") from exc
    except pd.errors.EmptyDataError as exc:
        raise IngestError(f"{source}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise IngestError(f"{source}: malformed CSV: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{source}: not valid {encoding} text ({exc.reason} at byte {exc.start}); pass the export's encoding"
        ) from exc
    cells.index = cells.index + 1
    cells.iloc[0] = cells.iloc[0].str.strip()
    maybe_blank = cells[0].eq("")
    cells = cells.drop(index=cells.index[maybe_blank][cells[maybe_blank].eq("").all(axis=1)])
    if cells.empty:
        raise IngestError(f"{source}: the file is empty")
    return cells


def _named_columns(cells: pd.DataFrame, source: str) -> pd.DataFrame:
    """Data rows with the header row's names; an unnamed, empty column (trailing delimiter) is no tag."""
    unnamed = cells.columns[cells.iloc[0].eq("")]
    empty = [column for column in unnamed if cells[column].iloc[1:].str.strip().eq("").all()]
    cells = cells.drop(columns=empty)
    names = cells.iloc[0]
    if names.eq("").any():
        numbers = [int(column) + 1 for column in names.index[names.eq("")]]
        raise IngestError(f"{source}: columns {numbers} have values but no name in the header row")
    if names.duplicated().any():
        duplicates = sorted(set(names[names.duplicated()]))
        raise IngestError(f"{source}: duplicate column names in the header row: {duplicates}")
    if len(cells) == 1:
        raise IngestError(f"{source}: the file has a header row but no data rows")
    return cells.iloc[1:].set_axis(names.tolist(), axis=1)


def _timestamp_column(cells: pd.DataFrame, formats: tuple[str, ...], source: str) -> str:
    """By name first (TS, Timestamp, EntryDateTime, Date Time ... in any case), else the first column
    most of whose values parse with the formats, judged on those of the first DETECTION_ROWS rows that
    hold a number (if any do), so a header block above a short export does not outvote its data."""
    for name in cells.columns:
        if re.sub(r"[^a-z]", "", name.lower()) in TIMESTAMP_COLUMN_NAMES:
            return name
    sample = cells.head(DETECTION_ROWS)
    data = sample.apply(lambda column: pd.to_numeric(column, errors="coerce")).notna().any(axis=1)
    sample = sample[data] if data.any() else sample
    for name in cells.columns:
        wall, utc, _ = match_formats(sample[name], formats)
        if (wall.notna() | utc.notna()).mean() > 0.5:
            return name
    raise IngestError(
        f"{source}: no timestamp column: no column is named like {sorted(TIMESTAMP_COLUMN_NAMES)} and"
        f" none parses with formats {list(formats)}; columns: {list(cells.columns)}"
    )


def _header_row_count(cells: pd.DataFrame, ts_column: str, formats: tuple[str, ...], markers) -> int:
    """Length of the block of header rows below the tag name row, scanned in growing chunks so a long
    header costs no more than its own rows and a plain export only HEADER_SCAN_ROWS."""
    start, size = 0, HEADER_SCAN_ROWS
    while start < len(cells):
        is_header = _is_header_row(cells.iloc[start : start + size], ts_column, formats, markers)
        if not is_header.all():
            return start + int(np.argmin(is_header))
        start, size = start + size, 2 * size
    return len(cells)


def _is_header_row(rows: pd.DataFrame, ts_column: str, formats: tuple[str, ...], markers) -> np.ndarray:
    """A header row holds no number and its timestamp cell does not parse; it has text in some cell or
    a label in the timestamp cell (letters, no digit and no missing marker: a timestamp never looks like
    that), empty cells allowed. So a row with a bad timestamp and a number, or with a stamp that has
    digits or is a missing marker, is data: counted as a bad timestamp."""
    rows = rows.apply(lambda column: column.str.strip())
    label = rows[ts_column]
    wall, utc, _ = match_formats(label, formats)
    others = rows.drop(columns=ts_column)
    numeric = others.apply(lambda column: pd.to_numeric(column, errors="coerce")).notna()
    text = ~numeric & ~others.apply(lambda column: column.str.lower().isin(markers))
    labelled = label.str.contains(r"[^\W\d_]") & ~label.str.contains(r"\d") & ~label.str.lower().isin(markers)
    return (wall.isna() & utc.isna() & ~numeric.any(axis=1) & (text.any(axis=1) | labelled)).to_numpy()


def _tag_info(header: pd.DataFrame, ts_column: str, source: str) -> dict[str, TagInfo]:
    """Roles of the header rows below the tag names. A row labelled Description (Desc) or Units (Unit,
    EU, UOM, Engineering Units) fills that field; any other labelled row is an attribute under its label,
    empty cells kept as "". Unlabelled rows take description, then units, where no label claimed them,
    then `line N`, keeping only their non-empty cells. A field claimed twice keeps the first row and the
    later one stays an attribute under its label, so no header row is lost."""
    labels = header[ts_column]
    claimed: dict[str, int] = {}
    for line, label in labels[labels.ne("")].items():
        key = re.sub(r"[^a-z]", "", label.lower())
        role = "description" if key in DESCRIPTION_LABELS else "units" if key in UNITS_LABELS else label
        role = label if role in claimed else role
        if role in claimed:
            raise IngestError(
                f"{source}: header rows on lines {claimed[role]} and {line} have the same label {label!r}"
            )
        claimed[role] = line
    positional = iter([role for role in ("description", "units") if role not in claimed])
    for line in labels.index[labels.eq("")]:
        claimed[next(positional, f"line {line}")] = line
    rows = sorted(claimed.items(), key=lambda item: item[1])
    tags = {}
    for tag in header.columns.drop(ts_column):
        fields = {role: header.at[line, tag] for role, line in rows if header.at[line, tag] or labels[line]}
        tags[tag] = TagInfo(
            name=tag,
            description=fields.pop("description", None) or None,
            units=fields.pop("units", None) or None,
            attributes=fields,
        )
    return tags


def _numeric_tags(data: pd.DataFrame, markers, source: str) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """float64 per tag; text-only columns are reported, a number column holding other text raises.
    Only the cells that are not numbers get the (slower) text treatment."""
    values, text_columns = {}, {}
    for tag in data.columns:
        numbers = pd.to_numeric(data[tag], errors="coerce").astype("float64")
        failed = data[tag][numbers.isna()].str.strip()
        bad = failed[~failed.str.lower().isin(markers)]
        if bad.empty:
            values[tag] = numbers
        elif numbers.notna().any():
            examples = ", ".join(f"{value!r} (line {line})" for line, value in bad.head(3).items())
            raise IngestError(
                f"{source}: tag {tag!r} changes type: {len(bad)} values are neither numbers nor missing"
                f" markers ({sorted(markers)}); examples: {examples}"
            )
        else:
            examples = ", ".join(repr(value) for value in bad.unique()[:3])
            text_columns[tag] = f"not numeric: text values only (e.g. {examples})"
    return values, text_columns
