"""Partitions: the scoring partition design at fleet size, through the real webserver and the daemons' own code.

A fleet of `--equipment` equipment over `--years` of scoring partitions, on a Dagster instance in
scratch PostgreSQL databases (dropped afterwards), with every equipment's last 90 days of the three scoring
assets materialized (synthetic events written in batches, so status queries read real rows). Timed:
- the UI: the asset Partitions tab's status query (cold, then warm) and the asset job's partitions page,
  both as the 1.13 UI sends them, against `dagster-webserver`;
- a 365-day backfill of one equipment launched by the UI's mutation, then the backfill daemon's iteration
  up to the run it creates (queued, never executed);
- one tick of the equipment sensor with no equipment trained (its costliest: every one is looked up), then
  one tick of the daily schedule with every equipment trained, by the daemons' own code (with the submit
  thread pool, should `deploy/dagster.yaml` give the daemon one).
The design is read from `acm_assets.partitions` (`scoring_partitions`, `scoring_partition_key`), never assumed.

The partitions read `$ACM_FIRST_DAY`/`$ACM_LAST_DAY` at import, and `python -m acm_assets.bench` has imported
them before any benchmark runs: the fleet part therefore runs in its own process started with both set.
The same invocation also times one equipment's training run and 365-day backfill against their direct floor
on the embedded (SQLite) profile of `pipeline`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import dagster as dg
import sqlalchemy as sa
import yaml
from dagster._core.definitions.partitions.utils.multi import get_tags_from_multi_partition_key
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID
from dagster._core.scheduler.instigation import ScheduleInstigatorData
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster._utils.error import SerializableErrorInfo

from acm_assets.bench.pipeline import POSTGRES_STORAGE_YAML, _Bench, _embedded, _seconds
from acm_assets.bench.registry import _scratch_postgres
from acm_assets.bench.webserver import WebServer, free_port, serving
from acm_assets.database import ACM_HOME_ENV, DATABASE_URL_ENV, create_engine
from acm_assets.ingest.historian import HistorianStore
from acm_assets.partitions import (
    FIRST_DAY_ENV,
    LAST_DAY_ENV,
    equipment_partitions,
    scoring_partition_key,
    scoring_partitions,
)
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.schema import create_registry_table
from acm_assets.registry.store import ModelStore
from acm_assets.simulation.simulator import simulate

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBSERVER = Path(sys.executable).with_name("dagster-webserver")
LOCATION = "acm_assets"
REPOSITORY = "__repository__"
SCORING_JOB = "scoring"
SCORING_ASSETS = ("anomaly_scores", "anomaly_episodes", "health_timeline")
SCHEDULE = "daily_scoring_schedule"
SENSOR = "equipment_sensor"
# In the past, so that every day partition exists now (time partitions end at the wall clock).
LAST_DAY = dt.date(2025, 12, 31)
MATERIALIZED_DAYS = 90
BACKFILL_DAYS = 365
EVENT_BATCH = 2000
STAND_IN_MODEL = "feature_medians"
START_TIMEOUT_S = 180
QUERY_TIMEOUT_S = 900
BACKFILL_ITERATIONS = 5
STDERR_FD = 2
TARGETS = {
    "partitions_per_asset": 100_000,
    "ui_partition_status_s": 5,
    "backfill_launch_s": 10,
    "daily_schedule_tick_s": 15,
    "sensor_tick_s": 10,
    "backfill_ratio": 4,
    "training_ratio": 3,
}
# The production instance's settings that shape these measurements: the queued run coordinator (runs from
# schedules, sensors and backfills are queued; no daemon dequeues them here) and the daemons' thread pools.
DEPLOY_INSTANCE = REPO_ROOT / "deploy" / "dagster.yaml"
DEPLOY_SETTINGS = ("run_coordinator", "schedules", "sensors")
# The environment deploy/README.md gives every Dagster process that shapes these measurements: one "planned"
# event per asset and run instead of one per partition and asset.
DEPLOY_ENVIRONMENT = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}
# The Partitions tab of an asset (PartitionHealthQuery of the 1.13 UI, as it sends it).
PARTITION_HEALTH_QUERY = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
        ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey primaryDimEndKey primaryDimStartTime primaryDimEndTime
            secondaryDim {
              ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
              ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
            }
          }
        }
      }
    }
  }
}
"""
# The asset job's Partitions page: its partition set, then PartitionHealthQuery for each partitioned asset.
ASSET_JOB_PARTITION_SETS_QUERY = """
query AssetJobPartitionSetsQuery($pipelineName: String!, $repositoryName: String!, $repositoryLocationName: String!) {
  partitionSetsOrError(pipelineName: $pipelineName, repositorySelector: {
      repositoryName: $repositoryName, repositoryLocationName: $repositoryLocationName}) {
    ... on PipelineNotFoundError { message }
    ... on PartitionSets { results { id name mode solidSelection } }
    ... on PythonError { message }
  }
}
"""
LAUNCH_BACKFILL_MUTATION = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message }
  }
}
"""


def add_arguments(parser) -> None:
    parser.add_argument("--equipment", type=int, default=1000, help="equipment partitions of the fleet")
    parser.add_argument("--years", type=int, default=3, help=f"years of scoring partitions, up to {LAST_DAY}")
    parser.add_argument(
        "--score-days", type=int, default=BACKFILL_DAYS,
        help="days of the one-equipment backfill timed against direct scoring (the *_365_days_s keys)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ACM_TEST_POSTGRES_URL"),
        help="server URL; the instance and the ACM database are scratch databases, created and dropped "
        "(default: $ACM_TEST_POSTGRES_URL)",
    )


def run(args) -> dict:
    if args.equipment < 1 or args.years < 1 or args.score_days < 1:
        raise ValueError(
            "--equipment, --years and --score-days must be at least 1, "
            f"got {args.equipment}, {args.years} and {args.score_days}"
        )
    if not args.postgres_url:
        raise ValueError("the fleet's instance is PostgreSQL: pass --postgres-url or set $ACM_TEST_POSTGRES_URL")
    load_before = os.getloadavg()[0]
    result = _fleet_process(args)
    result.update(_one_equipment(args.score_days))
    # Other work on the box slows every number here.
    result["machine"] = {
        "cpus": os.cpu_count(),
        "load_average_1m": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
    }
    result["ratios"] = {
        "backfill_ratio": round(result["backfill_365_days_s"] / result["direct_score_365_days_s"], 2),
        "training_ratio": round(result["training_run_s"] / (result["direct_fit_s"] + result["baseline_read_s"]), 2),
    }
    measured = {**result, **result["ratios"]}
    result["targets"] = TARGETS
    result["within_targets"] = {name: measured[name] <= target for name, target in TARGETS.items()}
    return result


def first_day(years: int) -> dt.date:
    """The fleet's first day partition: `years` whole calendar years up to LAST_DAY."""
    return (LAST_DAY + dt.timedelta(days=1)).replace(year=LAST_DAY.year + 1 - years)


def _fleet_process(args) -> dict:
    """The fleet part in a fresh process whose partitions span exactly the fleet's days."""
    env = {
        **os.environ,
        **DEPLOY_ENVIRONMENT,
        FIRST_DAY_ENV: first_day(args.years).isoformat(),
        LAST_DAY_ENV: LAST_DAY.isoformat(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory(prefix="acm_bench_partitions_") as scratch:
        output = Path(scratch) / "fleet.json"
        command = [
            sys.executable, "-m", "acm_assets.bench.partitions", str(output),
            "--equipment", str(args.equipment), "--years", str(args.years), "--postgres-url", args.postgres_url,
        ]  # fmt: skip
        # Its logs (and its code servers') go to stderr: stdout is this benchmark's JSON.
        subprocess.run(command, env=env, cwd=REPO_ROOT, check=True, stdout=STDERR_FD)
        return json.loads(output.read_text())


def _fleet(args) -> dict:
    first, last = first_day(args.years), LAST_DAY
    time_dimension = _time_dimension()
    if (time_dimension.start.date(), time_dimension.end.date() - dt.timedelta(days=1)) != (first, last):
        raise RuntimeError(f"the partitions span {time_dimension.start} .. {time_dimension.end}, not {first} .. {last}")
    codes = [f"EQ{i:04d}" for i in range(1, args.equipment + 1)]
    acm_url, drop_acm = _scratch_postgres(args.postgres_url)
    try:
        dagster_url, drop_dagster = _scratch_postgres(args.postgres_url)
        try:
            with tempfile.TemporaryDirectory(prefix="acm_bench_partitions_") as scratch:
                home = Path(scratch) / "dagster_home"
                home.mkdir()
                storage_url = sa.make_url(dagster_url).set(drivername="postgresql+psycopg2")
                (home / "dagster.yaml").write_text(_instance_yaml(storage_url.render_as_string(hide_password=False)))
                acm_home = Path(scratch) / "acm_home"
                os.environ.update({"DAGSTER_HOME": str(home), DATABASE_URL_ENV: acm_url, ACM_HOME_ENV: str(acm_home)})
                with dg.DagsterInstance.get() as instance:
                    return _fleet_on(instance, acm_url, codes, args.years, Path(scratch))
        finally:
            drop_dagster()
    finally:
        drop_acm()


def _fleet_on(instance: dg.DagsterInstance, acm_url: str, codes: list[str], years: int, scratch: Path) -> dict:
    first, last = first_day(years), LAST_DAY
    started = time.perf_counter()
    instance.add_dynamic_partitions(equipment_partitions.name, codes)
    _seed_equipment(acm_url, codes, last)
    days = [last - dt.timedelta(days=i) for i in range(MATERIALIZED_DAYS)]
    keys = {str(scoring_partition_key(codes[0], day)) for day in days}
    written = _write_materializations(instance, codes, days)
    result = {
        "design": " x ".join(_describe(d) for d in scoring_partitions.partitions_defs),
        "equipment": len(codes),
        "years": years,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "time_partitions": _time_dimension().get_num_partitions(),
        "partitions_per_asset": _num_partitions(instance),
        "materialized": f"every equipment's last {MATERIALIZED_DAYS} days of the {len(SCORING_ASSETS)} scoring "
        f"assets: {len(keys)} partitions per equipment and asset (synthetic runless materializations)",
        "materializations_written": written,
        "build_s": _seconds(time.perf_counter() - started),
    }
    port = free_port()
    command = [str(WEBSERVER), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with serving(command, port=port, cwd=REPO_ROOT, env=os.environ, log=scratch / "webserver.log", location=LOCATION,
                 start_timeout_s=START_TIMEOUT_S, query_timeout_s=QUERY_TIMEOUT_S) as server:
        result.update(_ui(server, expected_materialized=len(keys) * len(codes)))
        started = time.perf_counter()
        workspace = WorkspaceFileTarget(paths=[str(REPO_ROOT / "workspace.yaml")])
        with WorkspaceProcessContext(instance, workspace) as context:
            result["daemon_workspace_load_s"] = _seconds(time.perf_counter() - started)
            result.update(_backfill(server, context, codes[0], last))
            result.update(_sensor_tick(context))
            _register_versions(acm_url, codes)
            result.update(_schedule_tick(context, last, codes))
    return result


def _instance_yaml(storage_url: str) -> str:
    """deploy/dagster.yaml's run coordinator and daemon settings, on the scratch PostgreSQL storage."""
    deployed = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    config = {name: deployed[name] for name in DEPLOY_SETTINGS if name in deployed}
    return yaml.safe_dump({**config, "telemetry": {"enabled": False}}) + POSTGRES_STORAGE_YAML.format(url=storage_url)


def _num_partitions(instance: dg.DagsterInstance) -> int:
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        return scoring_partitions.get_num_partitions()


def _time_dimension() -> dg.TimeWindowPartitionsDefinition:
    return next(
        d.partitions_def
        for d in scoring_partitions.partitions_defs
        if isinstance(d.partitions_def, dg.TimeWindowPartitionsDefinition)
    )


def _describe(dimension) -> str:
    partitions = dimension.partitions_def
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        return f"{dimension.name} (cron {partitions.cron_schedule!r}, fmt {partitions.fmt!r})"
    return f"{dimension.name} ({type(partitions).__name__})"


def _seed_equipment(acm_url: str, codes: list[str], last: dt.date) -> None:
    """The ACM tables and every equipment with its last day of history: real rows for the sensor's queries,
    too few for a baseline, and no model (every equipment untrained: the sensor's costliest tick)."""
    engine = create_engine(acm_url)
    historian = HistorianStore(engine)
    historian.create_tables()
    create_registry_table(engine)
    simulation = simulate("FD_FAN", start=last.isoformat(), days=1, cadence="1h", seed=1, faults=None)
    for code in codes:
        historian.add_equipment(code, equip_type="FD_FAN", tags=simulation.tag_info)
        historian.write_frame(code, simulation.frame, tags=simulation.tag_info)
    engine.dispose()


def _write_materializations(instance: dg.DagsterInstance, codes: list[str], days: list[dt.date]) -> int:
    """Runless materializations as `report_runless_asset_event` stores them, batched per asset (a batch
    updates the asset's latest-materialization row from its last event)."""
    keys = list(dict.fromkeys(scoring_partition_key(code, day) for code in codes for day in sorted(days)))
    written = 0
    for asset in SCORING_ASSETS:
        for i in range(0, len(keys), EVENT_BATCH):
            batch = [_materialization(dg.AssetKey(asset), key) for key in keys[i : i + EVENT_BATCH]]
            instance.event_log_storage.store_event_batch(batch)
            written += len(batch)
    return written


def _materialization(asset_key: dg.AssetKey, key: dg.MultiPartitionKey) -> EventLogEntry:
    materialization = dg.AssetMaterialization(
        asset_key=asset_key, partition=str(key), tags=get_tags_from_multi_partition_key(key)
    )
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        event_specific_data=StepMaterializationData(materialization),
        job_name=RUNLESS_JOB_NAME,
    )
    return EventLogEntry(
        user_message="",
        level=logging.INFO,
        job_name=RUNLESS_JOB_NAME,
        run_id=RUNLESS_RUN_ID,
        error_info=None,
        timestamp=time.time(),
        step_key=None,
        dagster_event=event,
    )


def _ui(server: WebServer, expected_materialized: int) -> dict:
    asset_key = {"path": [SCORING_ASSETS[0]]}
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        node = server.query(PARTITION_HEALTH_QUERY, assetKey=asset_key)["assetNodeOrError"]
        timings.append(time.perf_counter() - started)
        counted = _materialized_count(node)
        if counted != expected_materialized:
            raise RuntimeError(
                f"the Partitions tab of {SCORING_ASSETS[0]} counts {counted} materialized partitions, "
                f"{expected_materialized} were written"
            )
    started = time.perf_counter()
    sets = server.query(
        ASSET_JOB_PARTITION_SETS_QUERY, pipelineName=SCORING_JOB, repositoryName=REPOSITORY,
        repositoryLocationName=LOCATION,
    )["partitionSetsOrError"]  # fmt: skip
    if not sets.get("results"):
        raise RuntimeError(f"no partition set for the {SCORING_JOB} job: {sets}")
    for asset in SCORING_ASSETS:
        server.query(PARTITION_HEALTH_QUERY, assetKey={"path": [asset]})
    page_s = time.perf_counter() - started
    return {
        "ui_partition_status_s": _seconds(timings[0]),
        "ui_partition_status_warm_s": _seconds(timings[1]),
        "ui_materialized_partitions": counted,
        "ui_partitions_page_s": _seconds(page_s),
        "ui_partitions_page": f"AssetJobPartitionSetsQuery, then PartitionHealthQuery for each of "
        f"{len(SCORING_ASSETS)} assets (sequential; the browser sends them at once)",
    }


def _materialized_count(node: dict) -> int:
    """Materialized partitions in a PartitionHealthQuery answer, whatever dimension is primary."""
    keys = {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}
    statuses = node["assetPartitionStatuses"]
    if "primaryDimensionName" not in statuses:
        return _count_in(statuses, next(iter(keys.values())))
    primary = statuses["primaryDimensionName"]
    (secondary,) = set(keys) - {primary}
    index = {key: i for i, key in enumerate(keys[primary])}
    return sum(
        (index[r["primaryDimEndKey"]] - index[r["primaryDimStartKey"]] + 1)
        * _count_in(r["secondaryDim"], keys[secondary])
        for r in statuses["ranges"]
    )


def _count_in(statuses: dict, keys: list[str]) -> int:
    if "materializedPartitions" in statuses:
        return len(statuses["materializedPartitions"])
    index = {key: i for i, key in enumerate(keys)}
    return sum(
        index[r["endKey"]] - index[r["startKey"]] + 1 for r in statuses["ranges"] if r["status"] == "MATERIALIZED"
    )


def _backfill(server: WebServer, context: WorkspaceProcessContext, code: str, last: dt.date) -> dict:
    """The UI's backfill of one equipment's last 365 days, then the backfill daemon up to its first run."""
    instance = context.instance
    keys = sorted({str(scoring_partition_key(code, last - dt.timedelta(days=i))) for i in range(BACKFILL_DAYS)})
    started = time.perf_counter()
    launched = server.query(
        LAUNCH_BACKFILL_MUTATION,
        params={"assetSelection": [{"path": [a]} for a in SCORING_ASSETS], "partitionNames": keys,
                "title": f"score {code} for {BACKFILL_DAYS} days"},
    )["launchPartitionBackfill"]  # fmt: skip
    mutation_s = time.perf_counter() - started
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"launchPartitionBackfill: {launched}")
    runs_filter = dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]})
    for iterations in range(1, BACKFILL_ITERATIONS + 1):
        _exhaust(execute_backfill_iteration(context, _LOGGER), "backfill iteration")
        runs = instance.get_runs(filters=runs_filter)
        if runs:
            break
    else:
        raise RuntimeError(f"backfill {launched['backfillId']} created no run in {BACKFILL_ITERATIONS} iterations")
    launch_s = time.perf_counter() - started
    # Creating the run stores "materialization planned" events: one per asset with DEPLOY_ENVIRONMENT.
    events = Counter(e.dagster_event_type.value for e in instance.all_logs(runs[0].run_id) if e.is_dagster_event)
    return {
        "backfill_partitions": len(keys),
        "backfill_mutation_s": _seconds(mutation_s),
        "backfill_launch_s": _seconds(launch_s),
        "backfill_daemon_iterations": iterations,
        "backfill_runs": len(runs),
        "backfill_run_status": runs[0].status.value,
        "backfill_run_events_by_type": dict(events.most_common()),
        "backfill_run_partition_tags": {
            k: v for k, v in runs[0].tags.items() if k.startswith(("dagster/partition", "dagster/asset_partition"))
        },
    }


def _register_versions(acm_url: str, codes: list[str]) -> None:
    """A complete ModelRegistry version per equipment (one small stand-in model each): the trained fleet the
    daily schedule scores. Nothing here loads them; the tick only asks which equipment have one."""
    engine = create_engine(acm_url)
    store, historian = ModelStore(engine), HistorianStore(engine)
    for code in codes:
        equipment = Equipment(historian.get_equipment(code).equip_id, code)
        run_id = str(uuid.uuid4())
        store.save(equipment, STAND_IN_MODEL, {"stand_in": code}, run_id=run_id, root_run_id=run_id,
                   expected_types=[STAND_IN_MODEL])  # fmt: skip
    engine.dispose()


def _schedule_tick(context: WorkspaceProcessContext, last: dt.date, codes: list[str]) -> dict:
    """The schedule's first tick after midnight following the last day ("yesterday" is the last day),
    started just before that tick so the scheduler evaluates exactly one; every equipment is trained."""
    instance = context.instance
    schedule = _repository(context).get_schedule(SCHEDULE)
    midnight = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc).timestamp()
    tick_time = next(iter(schedule.execution_time_iterator(midnight)))
    state = instance.start_schedule(schedule)
    instance.update_instigator_state(
        state.with_data(ScheduleInstigatorData(schedule.cron_schedule, start_timestamp=midnight))
    )
    end = tick_time + dt.timedelta(seconds=1)
    with _submit_pool(instance.get_scheduler_settings()) as submit:
        started = time.perf_counter()
        ticks = launch_scheduled_runs(
            context, _LOGGER, end_datetime_utc=end, iteration_times={}, submit_threadpool_executor=submit
        )
        _exhaust(ticks, "scheduler iteration")
        tick_s = time.perf_counter() - started
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": SCHEDULE}))
    (tick,) = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
    covered = _equipment_covered(instance, runs)
    if sorted(covered) != sorted(codes):
        raise RuntimeError(
            f"the {SCHEDULE} tick at {tick_time} made {len(runs)} runs over {len(covered)} equipment (with "
            f"repeats: {len(covered) != len(set(covered))}), not each of the {len(codes)} once: {tick}"
        )
    events = Counter(
        e.dagster_event_type.value for run in runs for e in instance.all_logs(run.run_id) if e.is_dagster_event
    )
    return {
        "schedule_tick_time": tick_time.isoformat(),
        "daily_schedule_tick_s": _seconds(tick_s),
        "schedule_tick_status": tick.status.value,
        "schedule_runs_requested": len(runs),
        "schedule_equipment_covered": len(covered),
        # What creating the tick's runs stored: with DEPLOY_ENVIRONMENT, one planned event per asset and run.
        "schedule_run_events_by_type": dict(events.most_common()),
    }


def _equipment_covered(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> list[str]:
    """The equipment of every partition the runs cover (a run per partition, or a partition range)."""
    covered = []
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        for run in runs:
            if "dagster/asset_partition_range_start" in run.tags:
                bounds = dg.PartitionKeyRange(
                    run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]
                )
                keys = scoring_partitions.get_partition_keys_in_range(bounds)
            else:
                keys = [run.tags["dagster/partition"]]
            covered += [scoring_partitions.get_partition_key_from_str(k).keys_by_dimension["equipment"] for k in keys]
    return covered


def _sensor_tick(context: WorkspaceProcessContext) -> dict:
    instance = context.instance
    sensor = _repository(context).get_sensor(SENSOR)
    with _submit_pool(instance.get_sensor_settings()) as submit:
        started = time.perf_counter()
        _exhaust(
            execute_sensor_iteration(context, _LOGGER, threadpool_executor=None, submit_threadpool_executor=submit),
            "sensor iteration",
        )
        tick_s = time.perf_counter() - started
    ticks = instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)
    if len(ticks) != 1:
        raise RuntimeError(f"the {SENSOR} iteration made {len(ticks)} ticks, not 1")
    reason = ticks[0].skip_reason or ""
    return {
        "sensor_tick_s": _seconds(tick_s),
        "sensor_tick_status": ticks[0].status.value,
        "sensor_skip_reason": reason if len(reason) <= 200 else f"{reason[:200]}... ({len(reason)} characters)",
        "sensor_runs_requested": len(ticks[0].run_ids),
    }


@contextlib.contextmanager
def _submit_pool(settings: dict) -> Iterator[ThreadPoolExecutor | None]:
    """The pool the daemon submits a tick's runs on, as its instance settings ask (`use_threads`,
    `num_submit_workers`); the tick itself is evaluated inline, as the daemon does without `num_workers`."""
    if not (settings.get("use_threads") and settings.get("num_submit_workers")):
        yield None
        return
    with ThreadPoolExecutor(max_workers=settings["num_submit_workers"]) as pool:
        yield pool


def _repository(context: WorkspaceProcessContext):
    return context.create_request_context().get_code_location(LOCATION).get_repository(REPOSITORY)


def _exhaust(iterator, what: str) -> None:
    """Runs a daemon iteration to its end; the errors it yields (it never raises them) are raised here."""
    errors = [item for item in iterator if isinstance(item, SerializableErrorInfo)]
    if errors:
        raise RuntimeError(f"{what} failed: {errors[0].to_string()}")


def _one_equipment(score_days: int) -> dict:
    """Dagster vs direct for one equipment on the embedded profile (pipeline's benchmark, one repeat), in this
    process: its day partitions are the invocation's own, not the fleet's. In the deployment's environment, as
    the fleet part: the backfill run's creation stores one planned event per asset, not 36."""
    with mock.patch.dict(os.environ, DEPLOY_ENVIRONMENT), _embedded() as storage:
        bench = _Bench(*storage, train_days=60, score_days=score_days)
        with bench.scratch_instance():
            bench.fill_history()
            training = bench.training(repeats=1)
            backfill = bench.scoring_backfill()
            events = bench.instance.all_logs(backfill["run_id"])
    by_type = Counter(e.dagster_event_type.value if e.is_dagster_event else "log_message" for e in events)
    return {
        "one_equipment_days": score_days,
        "backfill_365_days_s": backfill["wall_s"],
        "direct_score_365_days_s": backfill["direct_score_s"],
        # The same day-by-day reads, scoring and writes without Dagster: the backfill beyond it is Dagster's.
        "day_by_day_without_dagster_365_days_s": backfill["day_by_day_without_dagster_s"],
        "training_run_s": training["dagster_run_s"],
        "direct_fit_s": training["direct_fit_s"],
        "baseline_read_s": training["baseline_read_s"],
        "backfill_dagster_events": backfill["dagster_events"],
        "backfill_events_by_type": dict(by_type.most_common()),
    }


_LOGGER = logging.getLogger(__name__)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the fleet part of the partitions benchmark (see run)")
    parser.add_argument("output", type=Path)
    add_arguments(parser)
    arguments = parser.parse_args()
    arguments.output.write_text(json.dumps(_fleet(arguments)))
