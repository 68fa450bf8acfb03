"""Strict reader for historian CSV exports: every cell is read as text first, so each conversion (the
timestamp, every number, every missing marker) is explicit and every failure is counted or raised.

Shapes handled: UTF-8 with or without a byte-order mark, quoted fields (numbers included), blank lines,
a trailing delimiter (an unnamed, empty last column), and multi-row headers of any length: the rows right
after the tag name row that hold no number and either some text or a label (descriptions, units, extended
names, empty labelled rows) become `TagInfo` metadata, never data, and never count as bad timestamps. Rows
labelled as limits ("High Limit", "Lo Limit" ...) hold numbers and are header rows all the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from acm_assets.ingest.cleaning import INDEX_NAME, CleanedFrame, clean_frame
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.report import IngestReport
from acm_assets.ingest.tags import HIGH_LIMIT_LABELS, LOW_LIMIT_LABELS, TagInfo
from acm_assets.ingest.timestamps import DEFAULT_TIMESTAMP_FORMATS, MAX_INVALID_SHARE, TimestampParser, match_formats

TIMESTAMP_COLUMN_NAMES = frozenset({"ts", "timestamp", "entrydatetime", "time", "datetime", "date"})
MISSING_VALUES = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "#na", "null", "none"})
DETECTION_ROWS = 1000
# Lines per chunk: what one chunk costs in memory, whatever the file's size.
CHUNK_ROWS = 10_000
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


def read_historian_csv(path, **options) -> HistorianExport:
    """Read one export strictly into memory (options as for `HistorianStream`); `acm import-csv` streams it."""
    stream = HistorianStream(path, **options)
    frame = pd.concat([frame for _, frame in stream.chunks()])[list(stream.report.tags)]
    return HistorianExport(frame=frame, tags=stream.report.tags, report=stream.report)


@dataclass
class _TagTally:
    """What a tag's cells held so far, over every chunk: numbers, and text that is no missing marker."""

    numbers: bool = False
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    text_examples: list[str] = field(default_factory=list)


class HistorianStream:
    """One export read strictly in chunks of `chunk_rows` lines, so memory does not grow with the file.

    `timestamp_formats` (default `DEFAULT_TIMESTAMP_FORMATS`) are tried per row; `timezone` is the zone the
    export's wall-clock times are in. `missing_values` adds markers (case-insensitive) to `MISSING_VALUES`,
    e.g. a historian's "I/O Timeout". A numeric tag holding any other text raises. The header is read on
    construction; `chunks()` yields (file lines, rows) with every column besides the timestamp as float64, and
    checks and counts span the whole file: after the last chunk, a file-wide problem (a tag that changes type,
    too many bad timestamps) raises, and `report` holds the counts and the numeric tags (text-only columns
    are dropped from it, as they are all missing in the chunks)."""

    def __init__(
        self,
        path,
        *,
        timestamp_formats: Iterable[str] | None = None,
        timezone: str = "UTC",
        timestamp_column: str | None = None,
        missing_values: Iterable[str] = (),
        encoding: str = "utf-8",
        max_invalid_share: float = MAX_INVALID_SHARE,
        chunk_rows: int = CHUNK_ROWS,
    ):
        self.source = str(path)
        self.formats = tuple(DEFAULT_TIMESTAMP_FORMATS if timestamp_formats is None else timestamp_formats)
        self.markers = MISSING_VALUES | {marker.strip().lower() for marker in missing_values}
        self.timezone = timezone
        self._cells = _cell_chunks(Path(path), encoding, self.source, chunk_rows)
        first = next(self._cells, None)
        if first is None:
            raise IngestError(f"{self.source}: the file is empty")
        names = first.iloc[0]
        first = first.iloc[1:]
        self._unnamed = [column for column in names.index if names[column] == ""]
        self._unnamed_with_values: set = set()
        if names.duplicated().any():
            duplicates = sorted(set(names[names.duplicated()]) - {""})
            if duplicates:
                raise IngestError(f"{self.source}: duplicate column names in the header row: {duplicates}")
        self._names = names
        while len(first) < DETECTION_ROWS:  # enough rows to find the timestamp column and the header block
            more = next(self._cells, None)
            if more is None:
                break
            first = pd.concat([first, more])
        if first.empty:
            raise IngestError(f"{self.source}: the file has a header row but no data rows")
        named = self._named(first)
        self.ts_column = timestamp_column or _timestamp_column(named, self.formats, self.source)
        if self.ts_column not in named.columns:
            raise IngestError(
                f"{self.source}: timestamp column {self.ts_column!r} not found; columns: {list(named.columns)}"
            )
        self.header_rows = _header_row_count(named, self.ts_column, self.formats, self.markers)
        header = named.iloc[: self.header_rows].apply(lambda column: column.str.strip())
        self._tags = _tag_info(header, self.ts_column, self.source)
        self._first = named.iloc[self.header_rows :]
        self._parser = TimestampParser(
            source=f"{self.source} (column {self.ts_column!r})", formats=self.formats, timezone=timezone,
            max_invalid_share=max_invalid_share,
        )
        self._tally = {tag: _TagTally() for tag in self._tags}
        self.report: IngestReport | None = None

    @property
    def columns(self) -> list[str]:
        """Every tag column of the file (text-only ones are known, and dropped, after the last chunk)."""
        return list(self._tags)

    def _named(self, cells: pd.DataFrame) -> pd.DataFrame:
        """Data rows with the header row's names; an unnamed column must stay empty in every chunk."""
        for column in self._unnamed:
            if column not in self._unnamed_with_values and not cells[column].str.strip().eq("").all():
                self._unnamed_with_values.add(column)
        return cells.drop(columns=self._unnamed).set_axis(self._names.drop(self._unnamed).tolist(), axis=1)

    def chunks(self) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        rows_in, dropped_lines = 0, 0
        data = self._first
        while data is not None:
            rows_in += len(data)
            parsed = self._parser.parse(data[self.ts_column])
            valid = parsed.values.notna().to_numpy()
            values = self._numbers(data.loc[valid].drop(columns=self.ts_column))
            if self._unnamed_with_values:
                break
            index = pd.DatetimeIndex(parsed.values[valid], name=INDEX_NAME)
            yield data.index.to_numpy()[valid], pd.DataFrame(values, index=index, columns=self.columns)
            more = next(self._cells, None)
            data = None if more is None else self._named(more)
        self._finish(rows_in)

    def _numbers(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        """float64 per tag; the cells that are not numbers get the (slower) text treatment and are tallied."""
        values = {}
        for tag in data.columns:
            numbers = pd.to_numeric(data[tag], errors="coerce").astype("float64")
            failed = data[tag][numbers.isna()].str.strip()
            bad = failed[~failed.str.lower().isin(self.markers)]
            tally = self._tally[tag]
            tally.numbers = tally.numbers or bool(numbers.notna().any())
            tally.bad += len(bad)
            tally.bad_examples += list(bad.head(3 - len(tally.bad_examples)).items())
            new_text = [value for value in bad.unique()[:3] if value not in tally.text_examples]
            tally.text_examples += new_text[: 3 - len(tally.text_examples)]
            values[tag] = numbers.to_numpy()
        return values

    def _finish(self, rows_in: int) -> None:
        if self._unnamed_with_values:
            numbers = [int(column) + 1 for column in sorted(self._unnamed_with_values)]
            raise IngestError(f"{self.source}: columns {numbers} have values but no name in the header row")
        if rows_in == 0:
            raise IngestError(f"{self.source}: the file has a header ({self.header_rows + 1} rows) but no data rows")
        formats = self._parser.finish()
        text_columns = {}
        for tag, tally in self._tally.items():
            if tally.bad and tally.numbers:
                examples = ", ".join(f"{value!r} (line {line})" for line, value in tally.bad_examples)
                raise IngestError(
                    f"{self.source}: tag {tag!r} changes type: {tally.bad} values are neither numbers nor missing"
                    f" markers ({sorted(self.markers)}); examples: {examples}"
                )
            if tally.bad:
                examples = ", ".join(repr(value) for value in tally.text_examples)
                text_columns[tag] = f"not numeric: text values only (e.g. {examples})"
        if len(text_columns) == len(self._tally):
            raise IngestError(
                f"{self.source}: no numeric tags (columns besides {self.ts_column!r}: {list(self._tally)})"
            )
        valid = rows_in - self._parser.unparseable - self._parser.nonexistent
        self.report = IngestReport(
            source=self.source,
            rows_in=rows_in,
            rows_out=valid,
            dropped_rows={
                "unparseable_timestamps": self._parser.unparseable,
                "nonexistent_local_times": self._parser.nonexistent,
            },
            dropped_tags=text_columns,
            tags={tag: info for tag, info in self._tags.items() if tag not in text_columns},
            timezone=self.timezone,
            timestamp_column=self.ts_column,
            header_rows=self.header_rows + 1,
            timestamp_formats=formats,
        )


def _cell_chunks(path: Path, encoding: str, source: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """All cells as text in chunks, indexed by 1-based file line (blank lines dropped after numbering); the
    first chunk starts with the header row (its names stripped)."""
    # The byte-order mark is optional in UTF-8 exports.
    codec = "utf-8-sig" if re.fullmatch(r"utf-?8", encoding, flags=re.IGNORECASE) else encoding
    try:
        # Every chunk as wide as the first line: pandas would otherwise misread a chunk that begins with a blank line.
        width = pd.read_csv(path, header=None, dtype=str, encoding=codec, nrows=1).shape[1]
        reader = pd.read_csv(
            path, header=None, names=range(width), dtype=str, na_filter=False, encoding=codec, skip_blank_lines=False,
            chunksize=chunk_rows,
        )
        header_seen = False
        for cells in reader:
            cells.index = cells.index + 1
            maybe_blank = cells[0].eq("")
            cells = cells.drop(index=cells.index[maybe_blank][cells[maybe_blank].eq("").all(axis=1)])
            if cells.empty:
                continue
            if not header_seen:
                cells.iloc[0] = cells.iloc[0].str.strip()
                header_seen = True
            yield cells
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
    digits or is a missing marker, is data: counted as a bad timestamp. A row labelled as a limit (High Limit,
    Low Limit ...: no timestamp reads like that) is a header row whatever it holds."""
    rows = rows.apply(lambda column: column.str.strip())
    label = rows[ts_column]
    wall, utc, _ = match_formats(label, formats)
    others = rows.drop(columns=ts_column)
    numeric = others.apply(lambda column: pd.to_numeric(column, errors="coerce")).notna()
    text = ~numeric & ~others.apply(lambda column: column.str.lower().isin(markers))
    labelled = label.str.contains(r"[^\W\d_]") & ~label.str.contains(r"\d") & ~label.str.lower().isin(markers)
    limits = label.str.lower().str.replace(r"[^a-z]", "", regex=True).isin(HIGH_LIMIT_LABELS | LOW_LIMIT_LABELS)
    return ((wall.isna() & utc.isna() & ~numeric.any(axis=1) & (text.any(axis=1) | labelled)) | limits).to_numpy()


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
