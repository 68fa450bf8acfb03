import datetime as dt

import dagster as dg

from acm_assets.definitions import build_resources
from acm_assets.ingest.historian import HistorianStore
from acm_assets.schedules import daily_scoring_schedule, weekly_training_schedule
from acm_assets.sensors import equipment_sensor
from acm_assets_tests.assets.conftest import CODE


def test_the_sensor_adds_new_equipment_and_cold_starts_untrained_ones(sqlite_plant):
    plant = sqlite_plant
    HistorianStore(plant.engine).add_equipment("NEW_PUMP", equip_type="COND_PUMP")
    resources = build_resources(plant.url)
    with dg.build_sensor_context(
        instance=plant.instance, resources={"acm_database": resources["acm_database"]}
    ) as context:
        result = equipment_sensor(context)
        assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["NEW_PUMP"]]
        assert sorted(r.partition_key for r in result.run_requests) == [CODE, "NEW_PUMP"]
        assert plant.train().success
        result = equipment_sensor(context)
        assert sorted(r.partition_key for r in result.run_requests) == ["NEW_PUMP"]


def test_daily_scoring_requests_yesterday_for_every_equipment(sqlite_plant):
    sqlite_plant.instance.add_dynamic_partitions("equipment", ["GAS_TURBINE"])
    context = dg.build_schedule_context(
        instance=sqlite_plant.instance, scheduled_execution_time=dt.datetime(2024, 2, 6, 1, 30, tzinfo=dt.UTC)
    )
    requests = list(daily_scoring_schedule(context))
    assert [r.partition_key for r in requests] == [
        dg.MultiPartitionKey({"equipment": CODE, "day": "2024-02-05"}),
        dg.MultiPartitionKey({"equipment": "GAS_TURBINE", "day": "2024-02-05"}),
    ]
    assert daily_scoring_schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_weekly_training_requests_one_run_per_equipment(sqlite_plant):
    context = dg.build_schedule_context(
        instance=sqlite_plant.instance, scheduled_execution_time=dt.datetime(2024, 2, 4, 3, 0, tzinfo=dt.UTC)
    )
    requests = list(weekly_training_schedule(context))
    assert [r.partition_key for r in requests] == [CODE]
    assert weekly_training_schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_the_sensor_works_on_a_database_without_a_registry_table(sqlite_url, instance):
    from acm_assets.database import create_engine

    store = HistorianStore(create_engine(sqlite_url))
    store.create_tables()
    store.add_equipment("FRESH_FAN")
    resources = build_resources(sqlite_url)
    with dg.build_sensor_context(instance=instance, resources={"acm_database": resources["acm_database"]}) as context:
        result = equipment_sensor(context)
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["FRESH_FAN"]]
    assert [r.partition_key for r in result.run_requests] == ["FRESH_FAN"]
