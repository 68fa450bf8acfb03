"""Equipment code -> EquipID through the `Equipment` table, read by reflection so the registry stays
independent of whoever owns and fills that table (the historian ingest)."""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from acm_assets.database import READ_ONLY, redact
from acm_assets.registry.errors import UnknownEquipmentError, describe_database_error


class Equipment(NamedTuple):
    equip_id: int
    code: str

    def __str__(self) -> str:
        return f"{self.code} (EquipID {self.equip_id})"


class EquipmentResolver:
    """Looks codes up in the `Equipment` table (columns EquipID, EquipCode); caches what it found."""

    def __init__(self, engine: sa.Engine, table_name: str = "Equipment"):
        self._engine = engine
        self._table_name = table_name
        self._table: sa.Table | None = None
        self._cache: dict[str, Equipment] = {}

    def resolve(self, code: str) -> Equipment:
        if code not in self._cache:
            self._cache[code] = self._lookup(code)
        return self._cache[code]

    def known(self) -> dict[int, str]:
        """EquipID -> code for every registered equipment (empty when the table does not exist)."""
        try:
            with self._engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                if not sa.inspect(conn).has_table(self._table_name):
                    return {}
                columns = self._columns(conn)
                rows = conn.execute(sa.select(columns["equipid"], columns["equipcode"])).all()
        except sa.exc.DBAPIError as exc:
            raise UnknownEquipmentError(describe_database_error(exc, self._engine.url)) from None
        return {int(equip_id): code for equip_id, code in rows}

    def _columns(self, conn: sa.Connection) -> dict[str, sa.Column]:
        columns = {column.name.lower(): column for column in self._reflect(conn).columns}
        if "equipid" not in columns or "equipcode" not in columns:
            raise UnknownEquipmentError(
                f"table {self._table_name} in {redact(self._engine.url)} lacks EquipID/EquipCode columns"
            )
        return columns

    def _lookup(self, code: str) -> Equipment:
        try:
            with self._engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                columns = self._columns(conn)
                equip_id = conn.execute(
                    sa.select(columns["equipid"]).where(columns["equipcode"] == code)
                ).scalar_one_or_none()
        except sa.exc.DBAPIError as exc:
            raise UnknownEquipmentError(describe_database_error(exc, self._engine.url)) from None
        if equip_id is None:
            raise UnknownEquipmentError(
                f"unknown equipment {code!r}: no row in table {self._table_name} of {redact(self._engine.url)}"
            )
        return Equipment(int(equip_id), code)

    def _reflect(self, conn: sa.Connection) -> sa.Table:
        if self._table is None:
            if not sa.inspect(conn).has_table(self._table_name):
                raise UnknownEquipmentError(
                    f"table {self._table_name} does not exist in {redact(self._engine.url)}: "
                    "equipment must be registered before models can be stored for it"
                )
            self._table = sa.Table(self._table_name, sa.MetaData(), autoload_with=conn)
        return self._table
