import dagster as dg
import pandas as pd
import pytest

from acm_assets.database import create_engine
from acm_assets.ingest.historian import HistorianStore
from acm_assets.outputs.io_manager import OutputTableIOManager
from acm_assets.partitions import equipment_day_partitions

KEY = dg.MultiPartitionKey({"equipment": "FAN_1", "day": "2024-01-02"})


def _health_asset(value):
    @dg.asset(
        name="health_timeline",
        partitions_def=equipment_day_partitions,
        io_manager_key="output_table_io_manager",
        metadata={"dagster/table_name": "ACM_HealthTimeline"},
    )
    def _asset():
        return value

    return _asset


def _health_row(points: int) -> pd.DataFrame:
    return pd.DataFrame(
        [{"Points": points, "MeanHealth": 90.0, "MinHealth": 80.0, "MaxFusedZ": 1.0, "CautionShare": 0.0,
          "AlertShare": 0.0, "Episodes": 0, "ModelVersion": 1, "RunID": "r"}]
    )


@pytest.fixture
def setup(sqlite_url):
    store = HistorianStore(create_engine(sqlite_url))
    store.create_tables()
    store.add_equipment("FAN_1")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("equipment", ["FAN_1"])
    return sqlite_url, instance


def _materialize(setup, value, raise_on_error=True):
    url, instance = setup
    return dg.materialize(
        [_health_asset(value)],
        partition_key=KEY,
        instance=instance,
        resources={"output_table_io_manager": OutputTableIOManager(database_url=url)},
        raise_on_error=raise_on_error,
    )


def test_a_partition_is_written_and_rewritten_in_place(setup):
    _materialize(setup, _health_row(10))
    result = _materialize(setup, {"ACM_HealthTimeline": _health_row(12)})
    metadata = result.asset_materializations_for_node("health_timeline")[0].metadata
    assert metadata["rows_written"].value == 1
    with create_engine(setup[0]).connect() as conn:
        points = conn.exec_driver_sql('SELECT "Points" FROM "ACM_HealthTimeline"').scalars().all()
    assert points == [12]


def test_an_unknown_table_is_named(setup):
    result = _materialize(setup, {"ACM_HealthTimeline": _health_row(1), "ACM_Nope": _health_row(1)}, False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "ACM_Nope" in str(failure.step_failure_data.error.cause or failure.step_failure_data.error)
