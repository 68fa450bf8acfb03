"""An export on its way into the historian, staged in a temporary SQLite file: sorting, de-duplication, the
cleaning report and the write all run in bounded memory, whatever the size of the file.

The rules are `clean_frame`'s with nothing filled (`max_gap_cadences=1`, as `acm import-csv` stores exports
as recorded): time order, duplicate timestamps keep the last row of the file, rows after `now` are dropped,
cadence is the median step, every step of two cadences or more is a gap and a segment break.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from acm_assets.ingest.cleaning import INDEX_NAME, to_utc
from acm_assets.ingest.csv_reader import HistorianStream
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.historian import check_tag_lengths
from acm_assets.ingest.report import IngestReport

# Kept rows handed to the historian at a time (times the tags: the points one batch holds).
BATCH_POINTS = 50_000


class StagedExport:
    """One export read and checked in full into `folder`, with its report final: rows in and out by reason,
    cadence, gaps, time range. `batches()` then yields the kept rows in time order."""

    def __init__(self, stream: HistorianStream, folder: Path, now=None):
        self.source = stream.source
        check_tag_lengths(stream.columns, self.source)
        self._db = sqlite3.connect(folder / f"{Path(self.source).name}.{id(self)}.staging")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE rows (line INTEGER PRIMARY KEY, ts INTEGER NOT NULL, vals BLOB NOT NULL)")
        for lines, frame in stream.chunks():
            values = frame.to_numpy(dtype="float64")
            infinite = np.isinf(values)
            if infinite.any():
                tags = list(frame.columns[infinite.any(axis=0)])
                first = frame.index[infinite.any(axis=1)][0].isoformat()
                raise IngestError(f"{self.source}: infinite values in tags {tags} (first at {first})")
            self._db.executemany(
                "INSERT INTO rows VALUES (?, ?, ?)", zip(lines.tolist(), frame.index.asi8.tolist(), map(bytes, values))
            )
        self._db.execute("CREATE INDEX rows_by_time ON rows (ts, line)")
        self.report: IngestReport = stream.report
        self.tags = stream.report.tags
        self.columns = list(stream.columns)
        self._kept = [self.columns.index(tag) for tag in self.tags]
        now = to_utc(pd.Timestamp.now(tz="UTC") if now is None else now, what="now", source=self.source)
        self._now = now.value
        self._clean()

    def _clean(self) -> None:
        report, db = self.report, self._db
        rows, distinct = db.execute("SELECT count(*), count(DISTINCT ts) FROM rows").fetchone()
        future = db.execute("SELECT count(DISTINCT ts) FROM rows WHERE ts > ?", (self._now,)).fetchone()[0]
        report.dropped_rows["duplicate_timestamps"] = rows - distinct
        report.dropped_rows["future"] = future
        kept = distinct - future
        if not kept:
            raise IngestError(f"{self.source}: no rows left after cleaning (dropped: {report.dropped_rows})")
        first, last = db.execute("SELECT min(ts), max(ts) FROM rows WHERE ts <= ?", (self._now,)).fetchone()
        report.start, report.end = pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")
        report.rows_out, report.segments = kept, 1
        if kept < 2:
            return
        db.execute(
            "CREATE TEMP TABLE steps AS SELECT ts - prev AS step, prev, ts FROM "
            "(SELECT ts, lag(ts) OVER (ORDER BY ts) AS prev FROM (SELECT DISTINCT ts FROM rows WHERE ts <= ?)) "
            "WHERE prev IS NOT NULL",
            (self._now,),
        )
        middle = db.execute(
            "SELECT step FROM steps ORDER BY step LIMIT ? OFFSET ?", (2 - (kept - 1) % 2, (kept - 2) // 2)
        ).fetchall()
        cadence = int(np.median([step for (step,) in middle]))
        report.cadence = pd.Timedelta(cadence, unit="ns")
        candidates = db.execute("SELECT step, prev, ts FROM steps WHERE step * 2 >= ? * 3 ORDER BY ts", (cadence,))
        for step, before, after in candidates:
            if np.rint(step / cadence) >= 2:
                gap = (pd.Timestamp(before, tz="UTC"), pd.Timestamp(after, tz="UTC"))
                report.gaps.append(gap)
                report.segment_breaks.append(gap)
        report.segments = len(report.segment_breaks) + 1

    def batches(self) -> Iterator[pd.DataFrame]:
        """The kept rows in time order (the last row of each timestamp), numeric tags only, a few tens of
        thousands of points at a time; each tag's missing share is in the report once the last is out."""
        size = max(1, BATCH_POINTS // max(len(self.columns), 1))
        present = np.zeros(len(self._kept), dtype=np.int64)
        cursor = self._db.execute(
            "SELECT ts, max(line), vals FROM rows WHERE ts <= ? GROUP BY ts ORDER BY ts", (self._now,)
        )
        while rows := cursor.fetchmany(size):
            values = np.frombuffer(b"".join(row[2] for row in rows), dtype="float64").reshape(len(rows), -1)
            values = values[:, self._kept]
            present += (~np.isnan(values)).sum(axis=0)
            index = pd.DatetimeIndex(np.array([row[0] for row in rows], dtype="datetime64[ns]"), name=INDEX_NAME)
            yield pd.DataFrame(values, index=index.tz_localize("UTC"), columns=list(self.tags))
        rows = self.report.rows_out
        self.report.missing_share = {tag: float((rows - present[i]) / rows) for i, tag in enumerate(self.tags)}

    def close(self) -> None:
        self._db.close()
