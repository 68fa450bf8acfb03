"""IO manager that writes a day partition's frame to its output table, replacing exactly that partition."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from acm_assets.database import create_engine, default_database_url
from acm_assets.ingest.historian import HistorianStore
from acm_assets.outputs.schema import OUTPUT_TABLES
from acm_assets.outputs.store import OutputStore

TABLE_METADATA_KEY = "dagster/table_name"


class OutputTableIOManager(dg.ConfigurableIOManager):
    """Frames of (equipment x day) partitions go to the table named by the asset's `dagster/table_name`.

    A partition's value may also be {table name: frame} for related tables written together (episodes and
    their culprits); all tables of one output are replaced in one transaction.
    """

    database_url: str | None = None
    """SQLAlchemy URL (e.g. dg.EnvVar("ACM_DATABASE_URL")); None: the embedded default."""

    _outputs: OutputStore | None = PrivateAttr(default=None)
    _historian: HistorianStore | None = PrivateAttr(default=None)

    def _open(self) -> tuple[OutputStore, HistorianStore]:
        if self._outputs is None:
            engine = create_engine(self.database_url or default_database_url())
            self._outputs = OutputStore(engine, OUTPUT_TABLES)
            self._outputs.create_tables()
            self._historian = HistorianStore(engine)
        return self._outputs, self._historian

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        outputs, historian = self._open()
        table = _table_name(context)
        values = _values_by_partition(context, obj)
        equip_ids: dict[str, int] = {}
        parts_by_table = defaultdict(list)
        for key, value in values.items():
            equipment, day = _equipment_and_day(key)
            if equipment not in equip_ids:
                equip_ids[equipment] = historian.get_equipment(equipment).equip_id
            for name, frame in _tables(context, table, value).items():
                parts_by_table[name].append((equip_ids[equipment], day, frame))
        results = outputs.replace_tables(dict(parts_by_table))
        rows = {name: sum(result.inserted for result in parts) for name, parts in results.items()}
        context.add_output_metadata(
            {"table": table, "rows_written": rows.get(table, 0), "partitions": len(values), "rows_by_table": rows}
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        outputs, historian = self._open()
        table = context.upstream_output.definition_metadata[TABLE_METADATA_KEY]
        parts = []
        for key in context.asset_partition_keys:
            equipment, day = _equipment_and_day(_multi_key(context.asset_partitions_def, key))
            parts.append(outputs.read(table, historian.get_equipment(equipment).equip_id, day, day))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _table_name(context: dg.OutputContext) -> str:
    table = (context.definition_metadata or {}).get(TABLE_METADATA_KEY)
    if table not in OUTPUT_TABLES:
        raise dg.Failure(
            f"asset {context.asset_key.to_user_string()} must name its output table in metadata "
            f"{TABLE_METADATA_KEY!r} (one of {sorted(OUTPUT_TABLES)}), got {table!r}"
        )
    return table


def _tables(context: dg.OutputContext, table: str, value) -> dict[str, pd.DataFrame]:
    tables = value if isinstance(value, Mapping) else {table: value}
    unknown = sorted(set(tables) - set(OUTPUT_TABLES))
    if unknown or table not in tables:
        raise dg.Failure(
            f"asset {context.asset_key.to_user_string()}: a partition's value must be a frame for {table} or "
            f"{{table: frame}} including {table}; got tables {sorted(tables)} (unknown: {unknown})"
        )
    return tables


def _values_by_partition(context: dg.OutputContext, obj) -> dict[dg.MultiPartitionKey, object]:
    keys = [_multi_key(context.asset_partitions_def, key) for key in context.asset_partition_keys]
    if len(keys) == 1 and not (isinstance(obj, Mapping) and {str(k) for k in obj} == {str(keys[0])}):
        return {keys[0]: obj}
    if not isinstance(obj, Mapping) or {str(k) for k in obj} != {str(k) for k in keys}:
        raise dg.Failure(
            f"asset {context.asset_key.to_user_string()}: a run over {len(keys)} partitions must output a dict "
            "keyed by exactly those partition keys"
        )
    by_name = {str(k): k for k in keys}
    return {by_name[str(k)]: frame for k, frame in obj.items()}


def _multi_key(partitions_def, key) -> dg.MultiPartitionKey:
    if isinstance(key, dg.MultiPartitionKey):
        return key
    return partitions_def.get_partition_key_from_str(key)


def _equipment_and_day(key: dg.MultiPartitionKey) -> tuple[str, dt.date]:
    dimensions = key.keys_by_dimension
    return dimensions["equipment"], dt.date.fromisoformat(dimensions["day"])
