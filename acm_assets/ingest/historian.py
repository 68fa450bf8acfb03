"""Historian tables in SQL: the `Equipment` registry and the long `HistorianData` table, on SQLAlchemy Core.

Schema (one MetaData, explicit SQL Server types so nothing renders as TEXT/IMAGE-era or length-less types):

    Equipment      EquipID INT PK, EquipCode VARCHAR(64) UNIQUE, EquipName NVARCHAR(200), EquipType VARCHAR(64),
                   TagsJSON NVARCHAR(max) ({tag: {description, units, ...}} in column order), CreatedAt DATETIME2
    HistorianData  EquipID INT FK, EntryDateTime DATETIME2 (naive UTC), Tag NVARCHAR(200), Value FLOAT
                   PRIMARY KEY (EquipID, EntryDateTime, Tag)

Long rather than wide because equipment differ in tags and a new tag must not need an ALTER TABLE; the
primary key is also the index every window read uses. Missing values are not stored (a missing row is a
missing value), so an import never erases a stored value with a missing one. EquipID is allocated as
max + 1 (no IDENTITY), so rows an operator inserts by hand with explicit ids and production tables with
their own ids fit in. The seed's wide per-equipment tables (`<EQUIP>_Data`: EntryDateTime plus one column
per tag) are read as they are. Every read goes through `clean_frame`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pandas.api.types import is_numeric_dtype
from sqlalchemy.dialects import mssql

from acm_assets.database import redact
from acm_assets.ingest.cleaning import CleanedFrame, clean_frame, to_utc
from acm_assets.ingest.errors import IngestError

EQUIP_CODE_LENGTH = 64
TAG_LENGTH = 200
INSERT_BATCH_ROWS = 20_000
_EQUIP_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*\Z")

_DateTime = sa.DateTime().with_variant(mssql.DATETIME2(), "mssql")

metadata = sa.MetaData()

equipment_table = sa.Table(
    "Equipment",
    metadata,
    sa.Column("EquipID", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("EquipCode", sa.String(EQUIP_CODE_LENGTH), nullable=False),
    sa.Column("EquipName", sa.Unicode(200)),
    sa.Column("EquipType", sa.String(64)),
    sa.Column("TagsJSON", sa.UnicodeText().with_variant(mssql.NVARCHAR("max"), "mssql")),
    sa.Column("CreatedAt", _DateTime, nullable=False),
    sa.UniqueConstraint("EquipCode", name="UQ_Equipment_EquipCode"),
)
# A code is a Dagster partition key: '|' would split a scoring key and '...' reads as a range.
equipment_table.append_constraint(
    sa.CheckConstraint(
        ~equipment_table.c.EquipCode.contains("|", autoescape=True)
        & ~equipment_table.c.EquipCode.contains("...", autoescape=True),
        name="CK_Equipment_EquipCode",
    )
)

historian_table = sa.Table(
    "HistorianData",
    metadata,
    sa.Column("EquipID", sa.Integer, sa.ForeignKey("Equipment.EquipID"), nullable=False, autoincrement=False),
    sa.Column("EntryDateTime", _DateTime, nullable=False),
    sa.Column("Tag", sa.Unicode(TAG_LENGTH), nullable=False),
    sa.Column("Value", sa.Float(53), nullable=False),
    sa.PrimaryKeyConstraint("EquipID", "EntryDateTime", "Tag", name="PK_HistorianData"),
)


# One stored point's new value, executed once per changed point (executemany).
update_point = (
    historian_table.update()
    .where(
        historian_table.c.EquipID == sa.bindparam("k_EquipID"),
        historian_table.c.EntryDateTime == sa.bindparam("k_EntryDateTime"),
        historian_table.c.Tag == sa.bindparam("k_Tag"),
    )
    .values(Value=sa.bindparam("k_Value"))
)


@dataclass(frozen=True)
class Equipment:
    equip_id: int
    code: str
    name: str | None
    equip_type: str | None
    tags: dict[str, dict] = field(default_factory=dict)  # tag -> metadata, in column order
    created_at: pd.Timestamp | None = None


@dataclass(frozen=True)
class WriteResult:
    """Counts of (timestamp, tag) points: new, identical to what was stored, and changed values."""

    inserted: int
    unchanged: int
    updated: int

    @property
    def points(self) -> int:
        return self.inserted + self.unchanged + self.updated


class HistorianStore:
    """The historian tables of one database (an engine from `acm_assets.database.create_engine`)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def create_tables(self) -> None:
        """Create whichever historian tables are missing; existing tables are left alone."""
        metadata.create_all(self.engine, checkfirst=True)

    def add_equipment(
        self,
        code: str,
        name: str | None = None,
        equip_type: str | None = None,
        tags: Mapping[str, Mapping] | None = None,
    ) -> Equipment:
        """Register new equipment; a code that exists already is an error, never an update."""
        _check_code(code)
        with self.engine.begin() as conn:
            existing = self._find(conn, code)
            if existing is not None:
                raise IngestError(f"equipment {code!r} already exists (EquipID {existing.equip_id})")
            next_id = conn.execute(sa.select(sa.func.coalesce(sa.func.max(equipment_table.c.EquipID), 0) + 1)).scalar_one()
            try:
                conn.execute(
                    equipment_table.insert().values(
                        EquipID=int(next_id),
                        EquipCode=code,
                        EquipName=name,
                        EquipType=equip_type,
                        TagsJSON=json.dumps({str(t): dict(m) for t, m in (tags or {}).items()}),
                        CreatedAt=pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime(),
                    )
                )
            except sa.exc.IntegrityError:
                raise IngestError(
                    f"equipment {code!r} or EquipID {next_id} was registered concurrently; try again"
                ) from None
        return self.get_equipment(code)

    def list_equipment(self) -> list[Equipment]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(equipment_table).order_by(equipment_table.c.EquipID)).all()
        return [_equipment(row) for row in rows]

    def get_equipment(self, code: str) -> Equipment:
        with self.engine.connect() as conn:
            found = self._find(conn, code)
        if found is None:
            raise IngestError(
                f"unknown equipment {code!r}: not in table Equipment of {redact(self.engine.url)} "
                f"(register it with `acm equipment add {code}`)"
            )
        return found

    def data_summary(
        self, codes: list[str] | None = None
    ) -> dict[str, tuple[int, pd.Timestamp | None, pd.Timestamp | None]]:
        """Per equipment code (all, or those in `codes`): stored points, first and last timestamp (UTC)."""
        h, e = historian_table, equipment_table
        query = (
            sa.select(
                e.c.EquipCode,
                sa.func.count(h.c.EquipID),
                sa.func.min(h.c.EntryDateTime),
                sa.func.max(h.c.EntryDateTime),
            )
            .select_from(e.outerjoin(h, h.c.EquipID == e.c.EquipID))
            .group_by(e.c.EquipCode)
        )
        # In chunks: SQL Server takes at most 2,100 parameters a statement.
        chunks = [None] if codes is None else [codes[i : i + 1000] for i in range(0, len(codes), 1000)]
        with self.engine.connect() as conn:
            rows = [
                row
                for chunk in chunks
                for row in conn.execute(query if chunk is None else query.where(e.c.EquipCode.in_(chunk)))
            ]
        return {code: (int(count), _utc_or_none(first), _utc_or_none(last)) for code, count, first, last in rows}

    def history_range(self, code: str, start=None, end=None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """First and last stored timestamp of `code` within [start, end) (None, None: no data there)."""
        equipment = self.get_equipment(code)
        h = historian_table
        source = f"HistorianData[{code}]"
        query = sa.select(sa.func.min(h.c.EntryDateTime), sa.func.max(h.c.EntryDateTime)).where(
            h.c.EquipID == equipment.equip_id, *_window(h.c.EntryDateTime, start, end, source)
        )
        with self.engine.connect() as conn:
            first, last = conn.execute(query).one()
        return _utc_or_none(first), _utc_or_none(last)

    def write_frame(self, code: str, frame: pd.DataFrame, tags: Mapping[str, Mapping] | None = None) -> WriteResult:
        """Store a wide frame (UTC DatetimeIndex, one numeric column per tag) idempotently; see `write_frames`."""
        return self.write_frames(code, [frame], list(frame.columns), tags)

    def write_frames(
        self, code: str, frames: Iterable[pd.DataFrame], columns: list, tags: Mapping[str, Mapping] | None = None
    ) -> WriteResult:
        """Store wide frames of the tags `columns` (each a UTC DatetimeIndex, one numeric column per tag; a large
        import hands them one batch at a time, in time order) idempotently.

        One transaction per call, serialised per equipment by a lock on its Equipment row: points not yet
        stored are inserted, equal values are left alone, different values are updated. New tags are added
        to the equipment's TagsJSON (with `tags` metadata when given); a stored tag gains the metadata keys
        it lacks (units from a re-read export), and stored metadata is never overwritten.
        """
        source = f"HistorianData[{code}]"
        inserted = unchanged = updated = 0
        with self.engine.begin() as conn:
            equipment = self._find(conn, code, lock=True)
            if equipment is None:
                raise IngestError(f"unknown equipment {code!r}: register it with `acm equipment add {code}`")
            self._merge_tags(conn, equipment, columns, tags or {})
            for frame in frames:
                points = _long_points(frame, source)
                if points.empty:
                    continue
                stored = self._stored(conn, equipment.equip_id, points)
                merged = points.merge(stored, on=["EntryDateTime", "Tag"], how="left", suffixes=("", "_stored"))
                new = merged["Value_stored"].isna()
                changed = ~new & (merged["Value"] != merged["Value_stored"])
                self._insert(conn, equipment.equip_id, merged[new])
                self._update(conn, equipment.equip_id, merged[changed])
                inserted, updated = inserted + int(new.sum()), updated + int(changed.sum())
                unchanged += int((~new & ~changed).sum())
        return WriteResult(inserted=inserted, unchanged=unchanged, updated=updated)

    def read_window(
        self,
        code: str,
        start=None,
        end=None,
        *,
        tags: list[str] | None = None,
        now=None,
        previous_end=None,
        drop_constant: bool = True,
        max_gap_cadences: int = 3,
    ) -> CleanedFrame:
        """Points of `code` with start <= EntryDateTime < end (None: unbounded), wide and cleaned."""
        source = f"HistorianData[{code}]"
        wide = self.read_raw(code, start, end, tags=tags)
        if wide.empty:
            raise IngestError(f"{source}: no historian data in {_describe_window(start, end)}")
        return clean_frame(
            wide,
            source=source,
            now=now,
            previous_end=previous_end,
            drop_constant=drop_constant,
            max_gap_cadences=max_gap_cadences,
        )

    def read_raw(self, code: str, start=None, end=None, *, tags: list[str] | None = None) -> pd.DataFrame:
        """Points of `code` with start <= EntryDateTime < end, wide (a column per tag that has a point there,
        in the equipment's tag order) and not cleaned: a long window read once and cleaned in slices gives
        each slice what `read_window` of that slice gives."""
        source = f"HistorianData[{code}]"
        equipment = self.get_equipment(code)
        h = historian_table
        query = sa.select(h.c.EntryDateTime, h.c.Tag, h.c.Value).where(
            h.c.EquipID == equipment.equip_id, *_window(h.c.EntryDateTime, start, end, source)
        )
        if tags is not None:
            query = query.where(h.c.Tag.in_(list(tags)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        long = pd.DataFrame(rows, columns=["EntryDateTime", "Tag", "Value"])
        wide = long.pivot(index="EntryDateTime", columns="Tag", values="Value").astype("float64")
        order = [t for t in equipment.tags if t in wide.columns]
        wide = wide[order + sorted(set(wide.columns) - set(order))].rename_axis(columns=None)
        wide.index = pd.DatetimeIndex(wide.index).tz_localize("UTC").rename("EntryDateTime")
        return wide

    def read_wide_table(
        self,
        code: str,
        start=None,
        end=None,
        *,
        table: str | None = None,
        timestamp_column: str = "EntryDateTime",
        now=None,
        previous_end=None,
        drop_constant: bool = True,
        max_gap_cadences: int = 3,
    ) -> CleanedFrame:
        """A window of a seed-style wide table (default `<code>_Data`): timestamp column plus one column per tag.

        Timestamps in the table are naive UTC. Numeric columns are tags; other columns (and EquipID) are
        listed in the report's `dropped_tags` with their SQL type.
        """
        name = table or f"{code}_Data"
        source = f"table {name} ({code})"
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table(name):
                raise IngestError(f"{source}: no such table in {redact(self.engine.url)}")
            reflected = sa.Table(name, sa.MetaData(), autoload_with=conn)
            columns = {c.name.lower(): c for c in reflected.columns}
            ts = columns.get(timestamp_column.lower())
            if ts is None:
                raise IngestError(f"{source}: no timestamp column {timestamp_column!r} (columns: {list(columns)})")
            tag_columns, skipped = [], {}
            for column in reflected.columns:
                if column is ts:
                    continue
                if column.name.lower() == "equipid":
                    skipped[column.name] = "equipment key column"
                elif isinstance(column.type, (sa.Integer, sa.Float, sa.Numeric)):
                    tag_columns.append(column)
                else:
                    skipped[column.name] = f"non-numeric column type {column.type}"
            if not tag_columns:
                raise IngestError(f"{source}: no numeric tag columns ({skipped})")
            query = sa.select(ts, *tag_columns).where(*_window(ts, start, end, source))
            rows = conn.execute(query).all()
        if not rows:
            raise IngestError(f"{source}: no rows in {_describe_window(start, end)}")
        frame = pd.DataFrame(rows, columns=["EntryDateTime", *(c.name for c in tag_columns)])
        frame = frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame.pop("EntryDateTime"))).tz_localize("UTC"))
        cleaned = clean_frame(
            frame.apply(pd.to_numeric).astype("float64"),
            source=source,
            now=now,
            previous_end=previous_end,
            drop_constant=drop_constant,
            max_gap_cadences=max_gap_cadences,
        )
        cleaned.report.dropped_tags.update(skipped)
        return cleaned

    def _find(self, conn: sa.Connection, code: str, *, lock: bool = False) -> Equipment | None:
        query = sa.select(equipment_table).where(equipment_table.c.EquipCode == code)
        if lock:
            query = query.with_for_update().with_hint(equipment_table, "WITH (UPDLOCK, HOLDLOCK)", "mssql")
        row = conn.execute(query).one_or_none()
        return None if row is None else _equipment(row)

    def _merge_tags(self, conn, equipment: Equipment, columns: list, tags: Mapping[str, Mapping]) -> None:
        merged = dict(equipment.tags)
        for tag in columns:
            merged[str(tag)] = {**tags.get(tag, {}), **merged.get(str(tag), {})}
        if merged != equipment.tags:
            conn.execute(
                equipment_table.update()
                .where(equipment_table.c.EquipID == equipment.equip_id)
                .values(TagsJSON=json.dumps(merged))
            )

    def _stored(self, conn, equip_id: int, points: pd.DataFrame) -> pd.DataFrame:
        h = historian_table
        query = sa.select(h.c.EntryDateTime, h.c.Tag, h.c.Value).where(
            h.c.EquipID == equip_id,
            h.c.EntryDateTime >= points["EntryDateTime"].min().to_pydatetime(),
            h.c.EntryDateTime <= points["EntryDateTime"].max().to_pydatetime(),
        )
        stored = pd.DataFrame(conn.execute(query).all(), columns=["EntryDateTime", "Tag", "Value"])
        stored["EntryDateTime"] = pd.to_datetime(stored["EntryDateTime"]).astype(points["EntryDateTime"].dtype)
        return stored

    def _insert(self, conn, equip_id: int, rows: pd.DataFrame) -> None:
        params = _params(equip_id, rows, "")
        for first in range(0, len(params), INSERT_BATCH_ROWS):
            conn.execute(historian_table.insert(), params[first : first + INSERT_BATCH_ROWS])

    def _update(self, conn, equip_id: int, rows: pd.DataFrame) -> None:
        if not rows.empty:
            conn.execute(update_point, _params(equip_id, rows, "k_"))


def _check_code(code: str) -> None:
    if not isinstance(code, str) or not _EQUIP_CODE.match(code) or len(code) > EQUIP_CODE_LENGTH:
        raise IngestError(
            f"invalid equipment code {code!r}: use up to {EQUIP_CODE_LENGTH} letters, digits, '_' or '-', "
            "starting with a letter"
        )


def _equipment(row) -> Equipment:
    return Equipment(
        equip_id=int(row.EquipID),
        code=row.EquipCode,
        name=row.EquipName,
        equip_type=row.EquipType,
        tags=json.loads(row.TagsJSON) if row.TagsJSON else {},
        created_at=_utc_or_none(row.CreatedAt),
    )


def _utc_or_none(value) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value).tz_localize("UTC")


def check_tag_lengths(tags, source: str) -> None:
    """A tag name longer than HistorianData.Tag holds is refused, naming it and where it came from."""
    for tag in map(str, tags):
        if len(tag) > TAG_LENGTH:
            raise IngestError(
                f"{source}: tag {tag!r} has {len(tag)} characters; HistorianData.Tag holds at most {TAG_LENGTH}"
            )


def _long_points(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """(naive UTC EntryDateTime, Tag, Value) for every non-missing value of a wide frame."""
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise IngestError(f"{source}: the frame needs a DatetimeIndex, got {type(frame.index).__name__}")
    if frame.index.tz is None:
        raise IngestError(f"{source}: the frame's timestamps are naive; localise them (UTC) before writing")
    if frame.index.hasnans or frame.index.has_duplicates:
        raise IngestError(f"{source}: timestamps must be unique and present (clean the frame first)")
    if (frame.index != frame.index.floor("us")).any():
        raise IngestError(f"{source}: timestamps finer than a microsecond cannot be stored")
    bad = [str(t) for t in frame.columns if not is_numeric_dtype(frame[t])]
    if bad:
        raise IngestError(f"{source}: tags are not numeric: {bad}")
    check_tag_lengths(frame.columns, source)
    if frame.columns.has_duplicates or any(not str(t) for t in frame.columns):
        raise IngestError(f"{source}: tag names must be unique and non-empty")
    values = frame.to_numpy(dtype="float64")
    if np.isinf(values).any():
        raise IngestError(f"{source}: infinite values in tags {list(frame.columns[np.isinf(values).any(axis=0)])}")
    present = ~np.isnan(values)
    rows, cols = np.nonzero(present)
    index = frame.index.tz_convert("UTC").tz_localize(None)
    return pd.DataFrame(
        {
            "EntryDateTime": index[rows],
            "Tag": np.asarray([str(t) for t in frame.columns], dtype=object)[cols],
            "Value": values[rows, cols],
        }
    )


def _params(equip_id: int, rows: pd.DataFrame, prefix: str) -> list[dict]:
    stamps = pd.DatetimeIndex(rows["EntryDateTime"]).to_pydatetime()
    return [
        {f"{prefix}EquipID": equip_id, f"{prefix}EntryDateTime": t, f"{prefix}Tag": g, f"{prefix}Value": v}
        for t, g, v in zip(stamps, rows["Tag"].tolist(), rows["Value"].tolist())
    ]


def _window(column, start, end, source: str) -> list:
    conditions = []
    if start is not None:
        conditions.append(column >= _naive_utc(start, "start", source))
    if end is not None:
        conditions.append(column < _naive_utc(end, "end", source))
    return conditions


def _naive_utc(value, what: str, source: str) -> datetime:
    return to_utc(value, what=what, source=source).tz_localize(None).to_pydatetime()


def _describe_window(start, end) -> str:
    return f"window [{start if start is not None else '-inf'}, {end if end is not None else '+inf'})"
