"""A small plant for asset tests: one simulated FD_FAN in a real database and a real Dagster instance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from acm_assets.assets.ingest import baseline
from acm_assets.assets.scoring import anomaly_scoring, scoring_days
from acm_assets.assets.training import model_assets
from acm_assets.database import create_engine
from acm_assets.definitions import build_resources
from acm_assets.ingest.historian import HistorianStore
from acm_assets.partitions import scoring_partition_key
from acm_assets.simulation.simulator import FaultSpec, simulate
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.schema import create_registry_table
from acm_assets.registry.store import ModelStore

CODE = "FD_FAN"
BEARING = "FD1.06T32_BEARING_TEMP"
# Crosses midnight between the 3rd and 4th scored day.
MIDNIGHT_FAULT = FaultSpec("step", "2024-02-03 20:00", "2024-02-04 06:00", (BEARING,), 6.0)
TRAIN_WINDOW = {"start": "2024-01-01", "end": "2024-01-31"}
ALL_ASSETS = [baseline, *model_assets, anomaly_scoring]


@dataclass
class Plant:
    url: str
    instance: dg.DagsterInstance
    engine: sa.Engine

    def materialize(self, selection, *, partition_key=None, tags=None, run_config=None, raise_on_error=True):
        return dg.materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=partition_key,
            instance=self.instance,
            resources=build_resources(self.url),
            tags=tags,
            run_config=run_config,
            raise_on_error=raise_on_error,
        )

    def train(self, selection=None, code=CODE, window=TRAIN_WINDOW, **kwargs):
        selection = selection or dg.AssetSelection.groups("ingest", "training")
        run_config = {"ops": {"baseline": {"config": window}}} if window else None
        return self.materialize(selection, partition_key=code, run_config=run_config, **kwargs)

    def score(self, first_day: str, last_day: str | None = None, code=CODE, tags=None, **kwargs):
        """Scores [first_day, last_day] (one day when last_day is None): the month partitions that hold them,
        limited to those days by the run config, as the schedule and a rerun do."""
        first = dt.date.fromisoformat(first_day)
        last = dt.date.fromisoformat(last_day) if last_day else first
        start, end = scoring_partition_key(code, first), scoring_partition_key(code, last)
        selection, run_config = dg.AssetSelection.groups("scoring"), scoring_days(first, last)
        if start == end:
            return self.materialize(selection, partition_key=start, tags=tags, run_config=run_config, **kwargs)
        range_tags = {"dagster/asset_partition_range_start": str(start), "dagster/asset_partition_range_end": str(end)}
        return self.materialize(selection, tags={**range_tags, **(tags or {})}, run_config=run_config, **kwargs)

    def registry(self) -> ModelStore:
        return ModelStore(self.engine)

    def equipment(self, code=CODE) -> Equipment:
        return Equipment(HistorianStore(self.engine).get_equipment(code).equip_id, code)

    def table(self, name: str) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(sa.text(f'SELECT * FROM "{name}"'), conn)


def make_plant(url: str, instance: dg.DagsterInstance, days: float = 36, faults=(MIDNIGHT_FAULT,)) -> Plant:
    engine = create_engine(url)
    store = HistorianStore(engine)
    store.create_tables()
    simulation = simulate("FD_FAN", start="2024-01-01", days=days, seed=3, faults=list(faults))
    store.add_equipment(CODE, equip_type="FD_FAN", tags=simulation.tag_info)
    store.write_frame(CODE, simulation.frame)
    create_registry_table(engine)
    instance.add_dynamic_partitions("equipment", [CODE])
    return Plant(url, instance, engine)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def plant(database_url, instance) -> Plant:
    return make_plant(database_url, instance)


@pytest.fixture
def sqlite_plant(sqlite_url, instance) -> Plant:
    return make_plant(sqlite_url, instance)
