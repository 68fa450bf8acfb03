"""Partition-replacing writes to output tables keyed by (EquipID, Day).

A row belongs to the latest day partition that wrote its entity (a timestamp, an episode): re-running a
day replaces exactly that day's rows, and an episode that a later day extended is never shrunk back by a
re-run of an earlier day. That is what keeps reruns and backfills free of duplicates and losses.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import astuple, dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa


@dataclass(frozen=True)
class OutputTable:
    """An output table and the columns that identify one entity across day partitions."""

    table: sa.Table
    entity_columns: tuple[str, ...]


@dataclass(frozen=True)
class ReplaceResult:
    deleted: int
    inserted: int
    superseded_earlier: int
    kept_later: int


class OutputStore:
    def __init__(self, engine: sa.Engine, tables: dict[str, OutputTable]):
        self.engine = engine
        self.tables = tables

    def create_tables(self) -> None:
        """Create missing tables, and add the nullable columns a newer version defines to an existing one (the
        time-to-limit columns of ACM_Episodes): a database scored by an older version keeps working."""
        for output in self.tables.values():
            output.table.create(self.engine, checkfirst=True)
            _add_missing_columns(self.engine, output.table)

    def table(self, name: str) -> OutputTable:
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"unknown output table {name!r}; known: {sorted(self.tables)}") from None

    def replace_partition(self, name: str, equip_id: int, day: dt.date, frame: pd.DataFrame) -> ReplaceResult:
        """Make the table hold exactly `frame` for (equip_id, day), in one transaction."""
        return self.replace_partitions(name, [(equip_id, day, frame)])

    def replace_partitions(self, name: str, parts: list[tuple[int, dt.date, pd.DataFrame]]) -> ReplaceResult:
        """Replace several (equip_id, day) partitions in one transaction."""
        return self.replace_tables({name: parts})[name]

    def replace_tables(
        self, parts_by_table: dict[str, list[tuple[int, dt.date, pd.DataFrame]]]
    ) -> dict[str, ReplaceResult]:
        """Replace partitions of several related tables (episodes and their culprits) in one transaction."""
        results = {}
        with self.engine.begin() as conn:
            for name, parts in parts_by_table.items():
                by_equipment = defaultdict(list)
                for equip_id, day, frame in parts:
                    _check_columns(self.table(name).table, frame)
                    by_equipment[equip_id].append((day, frame))
                counts = [
                    _replace(conn, self.table(name), equip_id, [d for d, _ in days], with_days(days))
                    for equip_id, days in by_equipment.items()
                ]
                results[name] = ReplaceResult(*map(sum, zip((0, 0, 0, 0), *map(astuple, counts))))
        return results

    def replace_days(self, equip_id: int, days: list[dt.date], frames: dict[str, pd.DataFrame]) -> None:
        """Make each table hold exactly the rows of its frame (a Day column says whose) for the equipment's
        `days`, all tables in one transaction. Per table, one delete of the days, one query of the entities
        held by other days and one multi-row insert, whatever the number of days."""
        with self.engine.begin() as conn:
            for name, frame in frames.items():
                _replace(conn, self.table(name), equip_id, days, frame)

    def rows_per_day(self, name: str, equip_id: int, start_day: dt.date, end_day: dt.date) -> dict[dt.date, int]:
        """How many rows each day in [start_day, end_day] holds (days without rows are absent)."""
        table = self.table(name).table
        query = (
            sa.select(table.c.Day, sa.func.count())
            .where(table.c.EquipID == equip_id, table.c.Day >= start_day, table.c.Day <= end_day)
            .group_by(table.c.Day)
        )
        with self.engine.connect() as conn:
            return {day: int(count) for day, count in conn.execute(query)}

    def read(self, name: str, equip_id: int, start_day: dt.date | None = None, end_day: dt.date | None = None):
        """Rows of one equipment, optionally for days in [start_day, end_day]."""
        table = self.table(name).table
        query = sa.select(table).where(table.c.EquipID == equip_id)
        if start_day is not None:
            query = query.where(table.c.Day >= start_day)
        if end_day is not None:
            query = query.where(table.c.Day <= end_day)
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)


def _add_missing_columns(engine: sa.Engine, table: sa.Table) -> None:
    with engine.connect() as conn:
        present = {c["name"].lower() for c in sa.inspect(conn).get_columns(table.name)}
    missing = [c for c in table.columns if c.name.lower() not in present]
    if not missing:
        return
    required = [c.name for c in missing if not c.nullable]
    if required:
        raise RuntimeError(f"table {table.name} lacks the required columns {required}: migrate it before scoring")
    preparer = engine.dialect.identifier_preparer
    with engine.begin() as conn:
        for column in missing:
            definition = sa.schema.CreateColumn(column).compile(dialect=engine.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {preparer.format_table(table)} ADD {definition}")


def _replace(conn, output: OutputTable, equip_id: int, days: list[dt.date], frame: pd.DataFrame) -> ReplaceResult:
    """The frame's rows replace what the table holds for `days`. An entity (a timestamp, an episode) is held
    by one day: the latest of the days that wrote it, so an earlier day's rerun never shrinks an episode that
    a later day extended, and a later day's row supersedes an earlier one."""
    table, entity = output.table, output.entity_columns
    days = sorted(days)
    _check_columns(table, frame)
    names = [c.name for c in table.columns]
    columns = dict(zip(names, _column_values(frame.assign(EquipID=equip_id).sort_values("Day", kind="stable"), names)))
    rows = [dict(zip(names, row)) for row in zip(*columns.values())]
    deleted = sum(
        conn.execute(sa.delete(table).where(table.c.EquipID == equip_id, table.c.Day.in_(chunk))).rowcount
        for chunk in _chunks(days)
    )
    # From the columns, not the row dicts: a month of scores is thousands of rows.
    keys = list(zip(*(columns[c] for c in entity)))
    latest = dict(zip(keys, columns["Day"]))  # rows are in day order: the last day wins
    incoming = [(key, row) for key, row, day in zip(keys, rows, columns["Day"]) if latest[key] == day]
    elsewhere = _entities_in_other_days(conn, table, entity, equip_id, latest) if rows else {}
    later = {key for key, day in elsewhere.items() if day > latest[key]}
    superseded = set(elsewhere) - later
    for key in superseded:
        same = [table.c[c] == value for c, value in zip(entity, key)]
        conn.execute(sa.delete(table).where(table.c.EquipID == equip_id, *same))
    inserted = [row for key, row in incoming if key not in later]
    if inserted:
        conn.execute(sa.insert(table), inserted)
    return ReplaceResult(deleted, len(inserted), len(superseded), len(incoming) - len(inserted))


def with_days(frames: list[tuple[dt.date, pd.DataFrame]]) -> pd.DataFrame:
    """Several days' frames in one, with a Day column saying whose each row is (a day without rows adds none)."""
    filled = [(day, frame) for day, frame in frames if len(frame)] or frames[:1]
    joined = pd.concat([frame for _, frame in filled])
    return joined.assign(Day=np.repeat(np.array([day for day, _ in filled], dtype=object), [len(f) for _, f in filled]))


def _chunks(values: list, size: int = 1000) -> list[list]:
    """SQL Server takes at most 2,100 parameters a statement."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def _check_columns(table: sa.Table, frame: pd.DataFrame) -> None:
    missing = [c.name for c in table.columns if c.name not in frame.columns and c.name not in ("EquipID", "Day")]
    if missing:
        raise ValueError(f"output frame for {table.name} lacks columns {missing}")


def _column_values(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Each column's values for an executemany's row dicts: Python values, None for missing ones, naive UTC
    datetimes (built a column at a time: a year's backfill writes millions of values)."""
    values_by_column = []
    for name in columns:
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            if values.dt.tz is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            converted = values.array.to_pydatetime()
        else:
            converted = values.to_numpy(dtype=object)
        absent = values.isna().to_numpy()
        if absent.any():
            converted = converted.copy()
            converted[absent] = None
        values_by_column.append(converted.tolist())
    return values_by_column


def _entities_in_other_days(conn, table, entity, equip_id, wanted) -> dict[tuple, dt.date]:
    """Entity key -> day of this equipment's rows that hold an entity in `wanted` (the days being written
    are deleted already, so these are other days')."""
    query = sa.select(*[table.c[c] for c in entity], table.c.Day).where(table.c.EquipID == equip_id)
    if len(entity) == 1:
        values = sorted(key for key, in wanted)
        query = query.where(table.c[entity[0]].between(values[0], values[-1]))
    found: dict[tuple, dt.date] = {}
    for *key, other_day in conn.execute(query):
        found[tuple(_normalise(k) for k in key)] = other_day
    return {k: v for k, v in found.items() if k in wanted}


def _normalise(value):
    return value.replace(tzinfo=None) if isinstance(value, dt.datetime) else value
