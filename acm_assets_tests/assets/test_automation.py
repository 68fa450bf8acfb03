import datetime as dt

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from acm_assets.assets.ingest import MIN_BASELINE_ROWS
from acm_assets.database import create_engine
from acm_assets.definitions import build_resources
from acm_assets.ingest.historian import HistorianStore, equipment_table
from acm_assets.schedules import (
    EQUIPMENT_PER_DAILY_RUN,
    _runs_of,
    daily_scoring_schedule,
    equipment_tag,
    weekly_training_schedule,
)
from acm_assets.sensors import equipment_sensor
from acm_assets.simulation.simulator import simulate
from acm_assets_tests.assets.conftest import CODE


def test_the_sensor_adds_new_equipment_and_cold_starts_untrained_ones(sqlite_plant):
    plant = sqlite_plant
    store = HistorianStore(plant.engine)
    store.add_equipment("NEW_PUMP", equip_type="COND_PUMP")
    simulation = simulate("COND_PUMP", start="2024-01-01", days=4, seed=5, faults=None)
    store.write_frame("NEW_PUMP", simulation.frame, tags=simulation.tag_info)
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
        assert result.run_requests[0].tags == {"acm/equipment": "NEW_PUMP"}
    assert equipment_sensor.description.startswith("Each minute: adds a partition per new Equipment row")


def test_a_sensor_tick_that_requests_nothing_says_why(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    resources = {"acm_database": build_resources(plant.url)["acm_database"]}
    with dg.build_sensor_context(instance=plant.instance, resources=resources) as context:
        result = equipment_sensor(context)
    assert (result.run_requests, result.skip_reason.skip_message) == (
        [], "nothing to do: no equipment lacks a complete model version (1 registered)"
    )


def _schedule_context(plant, scheduled: dt.datetime):
    resources = {"acm_database": build_resources(plant.url)["acm_database"]}
    return dg.build_schedule_context(instance=plant.instance, scheduled_execution_time=scheduled, resources=resources)


def test_daily_scoring_requests_yesterday_for_every_trained_equipment(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    HistorianStore(plant.engine).add_equipment("GAS_TURBINE", equip_type="GAS_TURBINE")
    plant.instance.add_dynamic_partitions("equipment", ["GAS_TURBINE"])  # registered, not trained yet
    with _schedule_context(plant, dt.datetime(2024, 2, 6, 1, 30, tzinfo=dt.UTC)) as context:
        [request] = list(daily_scoring_schedule(context))
    assert request.run_key == f"score:2024-02-05:{CODE}..{CODE}"
    assert request.tags == {
        "dagster/asset_partition_range_start": f"{CODE}|2024-02", "dagster/asset_partition_range_end": f"{CODE}|2024-02",
        "acm/equipment": CODE, "acm/days": "2024-02-05",
    }
    assert daily_scoring_schedule.description.startswith("At 01:30 UTC, score yesterday")
    assert daily_scoring_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    # The request's run scores that day alone, on the month partition.
    ran = plant.materialize(dg.AssetSelection.groups("scoring"), tags=request.tags, run_config=request.run_config)
    assert list(plant.table("ACM_HealthTimeline")["Day"].astype(str)) == ["2024-02-05"]
    health = next(m for m in ran.asset_materializations_for_node("anomaly_scoring") if m.asset_key.path == ["health_timeline"])
    assert (health.metadata["days"].value, health.metadata["month_days_scored"].value) == ("2024-02-05", 1)


def test_daily_runs_hold_up_to_fifty_consecutive_trained_equipment():
    codes = [f"EQ{i:03d}" for i in range(120)]
    runs = _runs_of(codes, set(codes) - {"EQ060"})
    assert [len(run) for run in runs] == [EQUIPMENT_PER_DAILY_RUN, 10, EQUIPMENT_PER_DAILY_RUN, 9] == [50, 10, 50, 9]
    assert [(run[0], run[-1]) for run in runs] == [("EQ000", "EQ049"), ("EQ050", "EQ059"), ("EQ061", "EQ110"),
                                                    ("EQ111", "EQ119")]


def test_daily_scoring_waits_when_no_equipment_is_trained(sqlite_plant):
    with _schedule_context(sqlite_plant, dt.datetime(2024, 2, 6, 1, 30, tzinfo=dt.UTC)) as context:
        (skip,) = list(daily_scoring_schedule(context))
    assert skip.skip_message == "no equipment has a complete model version to score 2024-02-05 with"


def test_weekly_training_requests_one_run_per_equipment(sqlite_plant):
    context = dg.build_schedule_context(
        instance=sqlite_plant.instance, scheduled_execution_time=dt.datetime(2024, 2, 4, 3, 0, tzinfo=dt.UTC)
    )
    requests = list(weekly_training_schedule(context))
    assert [(r.partition_key, r.tags) for r in requests] == [(CODE, {"acm/equipment": CODE})]
    assert weekly_training_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert weekly_training_schedule.description.startswith("Sundays at 03:00 UTC")


def test_a_range_run_names_its_equipment_in_one_tag():
    assert equipment_tag(["EQ000"]) == "EQ000"
    assert equipment_tag([f"EQ{i:03d}" for i in range(50)]) == "EQ000 .. EQ049 (50 equipment)"


def test_the_sensor_works_on_a_database_without_a_registry_table(sqlite_url, instance):
    from acm_assets.database import create_engine

    store = HistorianStore(create_engine(sqlite_url))
    store.create_tables()
    store.add_equipment("FRESH_FAN")
    resources = build_resources(sqlite_url)
    with dg.build_sensor_context(instance=instance, resources={"acm_database": resources["acm_database"]}) as context:
        result = equipment_sensor(context)
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["FRESH_FAN"]]
    assert result.run_requests == []  # registered, but no history yet
    assert "FRESH_FAN: 0 rows of history" in result.skip_reason.skip_message


def test_a_fleet_waiting_for_data_gets_a_readable_skip_reason(sqlite_url, instance):
    from acm_assets.database import create_engine

    store = HistorianStore(create_engine(sqlite_url))
    store.create_tables()
    codes = [f"FAN_{i:02d}" for i in range(12)]
    for code in codes:
        store.add_equipment(code)
    resources = build_resources(sqlite_url)
    with dg.build_sensor_context(instance=instance, resources={"acm_database": resources["acm_database"]}) as context:
        result = equipment_sensor(context)
    assert result.dynamic_partitions_requests[0].partition_keys == codes
    message = result.skip_reason.skip_message
    assert message.startswith("cold start waits for data: FAN_00: 0 rows of history")
    assert message.endswith("FAN_09: 0 rows of history, a baseline needs "
                            f"{MIN_BASELINE_ROWS}; and 2 more equipment (see the tick's log)")


def _sensor(plant):
    resources = build_resources(plant.url)
    return dg.build_sensor_context(instance=plant.instance, resources={"acm_database": resources["acm_database"]})


def test_the_cold_start_waits_for_enough_history_and_then_launches(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success  # FD_FAN is trained; only the new pump is a cold start
    store = HistorianStore(plant.engine)
    store.add_equipment("NEW_PUMP", equip_type="COND_PUMP")
    simulation = simulate("COND_PUMP", start="2024-01-01", days=4, seed=5, faults=None)
    store.write_frame("NEW_PUMP", simulation.frame.iloc[:100], tags=simulation.tag_info)
    with _sensor(plant) as context:
        waiting = equipment_sensor(context)
        assert waiting.run_requests == []
        assert waiting.skip_reason.skip_message == (
            f"cold start waits for data: NEW_PUMP: 100 rows of history, a baseline needs {MIN_BASELINE_ROWS}"
        )
        store.write_frame("NEW_PUMP", simulation.frame, tags=simulation.tag_info)
        ready = equipment_sensor(context)
    assert [(r.run_key, r.partition_key) for r in ready.run_requests] == [("cold-start:NEW_PUMP", "NEW_PUMP")]
    assert ready.skip_reason is None


def test_the_default_baseline_is_the_last_days_of_the_equipments_own_history(sqlite_plant):
    plant = sqlite_plant  # history 2024-01-01 .. 2024-02-05, long before the wall clock's today
    result = plant.train(window=None)
    assert result.success
    baseline = next(m for m in result.asset_materializations_for_node("baseline"))
    last_point = pd.Timestamp("2024-02-05 23:50", tz="UTC")
    assert pd.Timestamp(baseline.metadata["window_end"].value) == last_point + pd.Timedelta(microseconds=1)
    assert pd.Timestamp(baseline.metadata["window_start"].value) == last_point + pd.Timedelta(microseconds=1) - pd.Timedelta(days=60)
    evaluations = result.get_asset_check_evaluations()
    assert {e.partition for e in evaluations} == {CODE}  # each check is shown on its equipment's partition


def test_a_baseline_of_equipment_without_history_says_so(sqlite_plant):
    plant = sqlite_plant
    HistorianStore(plant.engine).add_equipment("EMPTY_FAN", equip_type="FD_FAN")
    plant.instance.add_dynamic_partitions("equipment", ["EMPTY_FAN"])
    result = plant.train(code="EMPTY_FAN", window=None, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_failure_data.error.message.startswith(
        "dagster._core.definitions.events.Failure: baseline EMPTY_FAN: no historian data stored yet"
    )


@pytest.mark.parametrize("scheduled", [dt.datetime(2023, 12, 1, 1, 30, tzinfo=dt.UTC)])
def test_daily_scoring_skips_a_day_outside_the_scored_days(sqlite_plant, scheduled):
    with _schedule_context(sqlite_plant, scheduled) as context:
        (skip,) = list(daily_scoring_schedule(context))
    assert skip.skip_message == "2023-11-30 is outside the scored days ($ACM_FIRST_DAY .. $ACM_LAST_DAY)"


def test_an_equipment_code_no_partition_key_can_hold_is_named_and_never_blocks_the_others(sqlite_url, instance):
    """A plant's tooling inserted `PIPE|B` into its own Equipment table (created without our check), and an
    older sensor made it a partition: the sensor names it, removes that partition and adds the others."""
    engine = create_engine(sqlite_url)
    legacy = sa.Table("Equipment", sa.MetaData(), *(column.copy() for column in equipment_table.columns))
    legacy.create(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(legacy), [
            {"EquipID": i, "EquipCode": code, "CreatedAt": dt.datetime(2024, 1, 1)}
            for i, code in enumerate(["FD_FAN", "PIPE|B", "PUMP_C"], start=1)
        ])
    engine.dispose()
    instance.add_dynamic_partitions("equipment", ["PIPE|B"])
    resources = build_resources(sqlite_url)
    with dg.build_sensor_context(instance=instance, resources={"acm_database": resources["acm_database"]}) as context:
        result = equipment_sensor(context)
    added, deleted = result.dynamic_partitions_requests
    assert (added.partition_keys, deleted.partition_keys) == (["FD_FAN", "PUMP_C"], ["PIPE|B"])
    reason = result.skip_reason.skip_message
    assert "'PIPE|B' (EquipID 2): '|' separates the equipment from the month" in reason
    assert "FD_FAN: 0 rows of history" in reason


def test_the_equipment_table_refuses_a_code_no_partition_key_can_hold(database_url):
    store = HistorianStore(create_engine(database_url))
    store.create_tables()
    with pytest.raises(sa.exc.IntegrityError, match="(?i)ck_equipment_equipcode|check constraint"):
        with store.engine.begin() as conn:
            conn.execute(
                sa.insert(equipment_table).values(EquipID=1, EquipCode="PIPE|B", CreatedAt=dt.datetime(2024, 1, 1))
            )
    store.engine.dispose()
