"""Partition-replacing writes to output tables keyed by (EquipID, Day).

A row belongs to the latest day partition that wrote its entity (a timestamp, an episode): re-running a
day replaces exactly that day's rows, and an episode that a later day extended is never shrunk back by a
re-run of an earlier day. That is what keeps reruns and backfills free of duplicates and losses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
        return self.replace_partitions(name, [(equip_id, day, frame)])[0]

    def replace_partitions(self, name: str, parts: list[tuple[int, dt.date, pd.DataFrame]]) -> list[ReplaceResult]:
        """Replace several (equip_id, day) partitions, in day order, in one transaction."""
        return self.replace_tables({name: parts})[name]

    def replace_tables(
        self, parts_by_table: dict[str, list[tuple[int, dt.date, pd.DataFrame]]]
    ) -> dict[str, list[ReplaceResult]]:
        """Replace partitions of several related tables (episodes and their culprits) in one transaction."""
        outputs = {name: self.table(name) for name in parts_by_table}
        with self.engine.begin() as conn:
            return {
                name: [
                    _replace(conn, outputs[name], equip_id, day, frame)
                    for equip_id, day, frame in sorted(parts, key=lambda part: (part[0], part[1]))
                ]
                for name, parts in parts_by_table.items()
            }

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


def _replace(conn, output: OutputTable, equip_id: int, day: dt.date, frame: pd.DataFrame) -> ReplaceResult:
    table = output.table
    rows = _records(frame.assign(EquipID=equip_id, Day=day), [c.name for c in table.columns])
    entity = output.entity_columns
    deleted = conn.execute(sa.delete(table).where(table.c.EquipID == equip_id, table.c.Day == day)).rowcount
    superseded, kept = 0, 0
    if rows:
        elsewhere = _entities_in_other_days(conn, table, entity, equip_id, day, rows)
        incoming = []
        for row in rows:
            other_day = elsewhere.get(tuple(row[c] for c in entity))
            if other_day is not None and other_day > day:
                kept += 1
                continue
            if other_day is not None:
                conn.execute(
                    sa.delete(table).where(table.c.EquipID == equip_id, *[table.c[c] == row[c] for c in entity])
                )
                superseded += 1
            incoming.append(row)
        if incoming:
            conn.execute(sa.insert(table), incoming)
    return ReplaceResult(deleted, len(rows) - kept, superseded, kept)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Row dicts for an executemany: Python values, None for missing ones, naive UTC datetimes (built a
    column at a time: a year's backfill writes millions of values)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"output frame lacks columns {missing}")
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
    return [dict(zip(columns, row)) for row in zip(*values_by_column)]


def _entities_in_other_days(conn, table, entity, equip_id, day, rows) -> dict[tuple, dt.date]:
    """Entity key -> day of the rows of this equipment, outside `day`, that share an entity with `rows`."""
    query = sa.select(*[table.c[c] for c in entity], table.c.Day).where(
        table.c.EquipID == equip_id, table.c.Day != day
    )
    if len(entity) == 1:
        values = sorted({row[entity[0]] for row in rows})
        query = query.where(table.c[entity[0]].between(values[0], values[-1]))
    found: dict[tuple, dt.date] = {}
    for *key, other_day in conn.execute(query):
        found[tuple(_normalise(k) for k in key)] = other_day
    wanted = {tuple(row[c] for c in entity) for row in rows}
    return {k: v for k, v in found.items() if k in wanted}


def _normalise(value):
    return value.replace(tzinfo=None) if isinstance(value, dt.datetime) else value
