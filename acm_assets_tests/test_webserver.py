"""The real `dagster dev` (webserver and daemon) on a small embedded database, driven through GraphQL as the UI does.

One server per module, started with the README's own command beside a demo-style .env naming a fresh instance: its
start-up, the sensor's cold-start training and the backfill daemon's 30 s loop are what take the time, so the
tests share them and run in file order (graph, checks, automation, training, backfill, per-month facts, a one-day
rerun, triage and its re-execution from failure, a re-execution of a run launched as `acm demo` launches). One
equipment keeps the cold start inside the backfill daemon's first 30 s cycle (two equipment train in parallel
on two shared cores and miss it, which costs a whole cycle). The process group is killed at the end, whatever
happened.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

import dagster as dg
from dagster._utils.env import environ

from acm_assets.bench.webserver import WebServer, free_port, serving
from acm_assets.cli.demo import launch_scoring, write_env_file
from acm_assets.cli.launcher import code_location
from acm_assets.database import create_engine
from acm_assets.detectors import ModelType
from acm_assets.ingest.historian import HistorianStore
from acm_assets.outputs.triage import latest_triage
from acm_assets.simulation.simulator import simulate
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.schema import create_registry_table
from acm_assets.registry.store import ModelStore
from acm_assets_tests.outputs.episodes import episode_row, write_episodes
from acm_assets.settings import ENSEMBLE_CONFIG

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")
# The README's line that opens the UI after `acm demo`, run here as written plus host and port, in a directory
# holding the project's workspace.yaml and the .env the demo writes (and nothing typed).
README_UI_COMMAND = "dagster dev"
LOCATION = "acm_assets"
REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": LOCATION}

HISTORY_START = "2024-01-01"
HISTORY_DAYS = 67  # the default 60-day baseline ends at the last point; scoring then covers the last week
HISTORY_LAST_DAY = "2024-03-07"
EQUIPMENT = "FD_FAN"
BACKFILL_MONTHS = [f"{EQUIPMENT}|2024-02", f"{EQUIPMENT}|2024-03"]
BACKFILL_DAYS = [dt.date(2024, 2, 1) + dt.timedelta(days=i) for i in range(29 + 7)]
RERUN_DAY = "2024-03-05"

MODEL_ASSETS = sorted(t.value for t in ModelType)
SCORING_ASSETS = ["anomaly_episodes", "anomaly_scores", "health_timeline"]
HEADS_WITH_QUALITY_CHECK = sorted(set(MODEL_ASSETS) - {"feature_medians", "regime_model"})

# Settings of the developer's shell that would change what the server reads.
UNSET = ("ACM_DATABASE_URL", "ACM_ENSEMBLE_CONFIG", "ACM_REGISTRY_HMAC_KEY")
START_TIMEOUT_S = 60
TRAINING_TIMEOUT_S = 90
BACKFILL_TIMEOUT_S = 120
FINISHED_RUN = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass(frozen=True)
class Server:
    """The running `dagster dev` and the ACM database it serves."""

    web: WebServer
    database_url: str
    directory: Path
    settings: dict[str, str]

    def query(self, text: str, **variables) -> dict:
        return self.web.query(text, **variables)

    def log_tail(self) -> str:
        return self.web.log_tail()


def test_the_readme_opens_the_ui_with_the_command_this_module_runs():
    assert README_UI_COMMAND in (REPO_ROOT / "README.md").read_text()


def _fill_database(url: str) -> None:
    """Fault-free simulated history (so the cold-start models pass their quality checks) and the registry table."""
    engine = create_engine(url)
    store = HistorianStore(engine)
    store.create_tables()
    create_registry_table(engine)
    simulation = simulate(EQUIPMENT, start=HISTORY_START, days=HISTORY_DAYS, seed=1, faults=None)
    store.add_equipment(EQUIPMENT, equip_type=EQUIPMENT, tags=simulation.tag_info)
    store.write_frame(EQUIPMENT, simulation.frame, tags=simulation.tag_info)
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    home = tmp_path_factory.mktemp("dagster_dev")
    acm_home, dagster_home = home / "acm_home", home / "fresh" / "dagster_home"
    acm_home.mkdir()
    database_url = f"sqlite:///{acm_home / 'acm.db'}"
    _fill_database(database_url)

    # As `acm demo` leaves the project directory: its .env names the instance and the data's days (the month
    # partitions cover them), and the instance directory exists.
    directory = home / "project"
    directory.mkdir()
    shutil.copy(REPO_ROOT / "workspace.yaml", directory)
    settings = {"DAGSTER_HOME": str(dagster_home), "ACM_FIRST_DAY": HISTORY_START, "ACM_LAST_DAY": HISTORY_LAST_DAY,
                "ACM_HOME": str(acm_home)}
    write_env_file(directory / ".env", settings)
    dagster_home.mkdir(parents=True)
    env = {name: value for name, value in os.environ.items() if name not in {*settings, *UNSET}}
    env["PATH"] = f"{DAGSTER.parent}:{env['PATH']}"
    port = free_port()
    command = ["bash", "-c", f"exec {README_UI_COMMAND} -h 127.0.0.1 -p {port}"]
    with serving(command, port=port, cwd=directory, env=env, log=home / "dagster_dev.log", location=LOCATION,
                 start_timeout_s=START_TIMEOUT_S) as web:
        yield Server(web, database_url, directory, settings)


def _asset_nodes(server: Server) -> dict[str, dict]:
    data = server.query(
        "{ assetNodes { assetKey { path } groupName isPartitioned opVersion dependencyKeys { path }"
        " backfillPolicy { policyType maxPartitionsPerRun }"
        " assetChecksOrError { ... on AssetChecks { checks { name blocking description"
        " partitionDefinition { type } } } } } }"
    )
    return {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}


def test_ui_shows_the_asset_graph_in_its_groups(server):
    nodes = _asset_nodes(server)

    assert sorted(nodes) == sorted(["baseline", *MODEL_ASSETS, *SCORING_ASSETS, "fleet_health_page"])
    groups = {key: node["groupName"] for key, node in nodes.items()}
    assert groups == {"baseline": "ingest", "fleet_health_page": "reports"} | dict.fromkeys(
        MODEL_ASSETS, "training"
    ) | dict.fromkeys(SCORING_ASSETS, "scoring")
    # Every asset is partitioned but the fleet page, which covers the whole fleet.
    assert [key for key, node in nodes.items() if not node["isPartitioned"]] == ["fleet_health_page"]
    # The ensemble config signature is the models' code version: a config change shows them stale.
    assert {nodes[m]["opVersion"] for m in MODEL_ASSETS} == {ENSEMBLE_CONFIG.signature()}
    scoring = nodes["anomaly_scores"]
    assert sorted("/".join(k["path"]) for k in scoring["dependencyKeys"]) == MODEL_ASSETS
    assert scoring["backfillPolicy"]["policyType"] == "SINGLE_RUN"


def test_ui_shows_the_asset_checks(server):
    nodes = _asset_nodes(server)
    checks = {
        (key, check["name"]): check["blocking"]
        for key, node in nodes.items()
        for check in node["assetChecksOrError"].get("checks", [])
    }

    expected = {("baseline", "baseline_quality"): True, ("anomaly_scores", "score_sanity"): False}
    expected |= {(head, "model_quality"): True for head in HEADS_WITH_QUALITY_CHECK}
    assert checks == expected
    shown = [check for node in nodes.values() for check in node["assetChecksOrError"].get("checks", [])]
    # Each check says what it measures against which limit, and is evaluated per partition of its asset.
    assert all(check["description"] and "%" in check["description"] for check in shown)
    assert {check["name"]: check["partitionDefinition"]["type"] for check in shown} == {
        "baseline_quality": "DYNAMIC", "model_quality": "DYNAMIC", "score_sanity": "MULTIPARTITIONED"
    }


def test_month_partitions_cover_the_months_of_the_data(server):
    def dimensions():
        data = server.query(
            '{ assetNodeOrError(assetKey: {path: ["health_timeline"]}) { ... on AssetNode {'
            " partitionKeysByDimension { name partitionKeys } } } }"
        )
        found = {d["name"]: d["partitionKeys"] for d in data["assetNodeOrError"]["partitionKeysByDimension"]}
        return found if found["equipment"] else None  # the sensor's first tick adds the equipment

    found = _wait_for("the sensor to add the equipment partition", server, TRAINING_TIMEOUT_S, dimensions)
    assert found == {"equipment": [EQUIPMENT], "month": ["2024-01", "2024-02", "2024-03"]}


def test_schedules_are_stopped_and_the_sensors_run(server):
    data = server.query(
        "query($repo: RepositorySelector!) {"
        " schedulesOrError(repositorySelector: $repo) { ... on Schedules { results {"
        "   name cronSchedule pipelineName description scheduleState { status } } } }"
        " sensorsOrError(repositorySelector: $repo) { ... on Sensors { results {"
        "   name minIntervalSeconds description targets { pipelineName } sensorState { status } } } } }",
        repo=REPOSITORY,
    )
    schedules = {s["name"]: s for s in data["schedulesOrError"]["results"]}
    sensors = {s["name"]: s for s in data["sensorsOrError"]["results"]}

    shown = {n: (s["pipelineName"], s["cronSchedule"], s["scheduleState"]["status"]) for n, s in schedules.items()}
    assert shown == {
        "daily_scoring_schedule": ("scoring", "30 1 * * *", "STOPPED"),
        "weekly_training_schedule": ("training", "0 3 * * 0", "STOPPED"),
        "daily_fleet_page_schedule": ("fleet_page", "0 6 * * *", "STOPPED"),
    }
    assert sorted(sensors) == ["equipment_sensor", "notification_sensor"]
    assert {s["sensorState"]["status"] for s in sensors.values()} == {"RUNNING"}
    assert [t["pipelineName"] for t in sensors["equipment_sensor"]["targets"]] == ["training"]
    # Notifications start on their own once a target is set in the environment; they launch no run.
    assert sensors["notification_sensor"]["targets"] == []
    # Each says in the UI what it does and when.
    assert all(len(s["description"] or "") > 40 for s in [*schedules.values(), *sensors.values()])


def _runs(server: Server, tags: list[dict]) -> list[dict]:
    data = server.query(
        "query($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {"
        " runId status jobName tags { key value } } } } }",
        filter={"tags": tags},
    )
    return data["runsOrError"]["results"]


def _wait_for(what: str, server: Server, timeout: float, probe):
    """Polls `probe()` until it returns something truthy; the server log tail explains a timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}:\n{server.log_tail()}")


def test_sensor_adds_equipment_partitions_and_cold_starts_training(server):
    def partitions():
        data = server.query(
            '{ assetNodeOrError(assetKey: {path: ["baseline"]}) { ... on AssetNode { partitionKeys } } }'
        )
        keys = data["assetNodeOrError"]["partitionKeys"]
        return keys if keys == [EQUIPMENT] else None

    _wait_for("the sensor to add the equipment partitions", server, TRAINING_TIMEOUT_S, partitions)

    def cold_start_finished():
        runs = _runs(server, [{"key": "dagster/sensor_name", "value": "equipment_sensor"}])
        return runs if runs and all(r["status"] in FINISHED_RUN for r in runs) else None

    (run,) = _wait_for("the cold-start training run", server, TRAINING_TIMEOUT_S, cold_start_finished)
    assert (run["jobName"], _tag(run, "dagster/partition"), _tag(run, "dagster/run_key")) == (
        "training",
        EQUIPMENT,
        f"cold-start:{EQUIPMENT}",
    )
    assert run["status"] == "SUCCESS"

    engine = create_engine(server.database_url)
    try:
        equipment = Equipment(HistorianStore(engine).get_equipment(EQUIPMENT).equip_id, EQUIPMENT)
        assert ModelStore(engine).latest_version(equipment) == 1
    finally:
        engine.dispose()

    data = server.query(
        "query($assets: [AssetKeyInput!], $partitions: [String!]) { assetNodes(assetKeys: $assets) {"
        " assetKey { path } latestMaterializationByPartition(partitions: $partitions) { runId } } }",
        assets=[{"path": [m]} for m in MODEL_ASSETS],
        partitions=[EQUIPMENT],
    )
    assert len(data["assetNodes"]) == len(MODEL_ASSETS)
    for node in data["assetNodes"]:
        assert [m["runId"] for m in node["latestMaterializationByPartition"]] == [run["runId"]], node["assetKey"]


def _tag(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


def _scored_days(server: Server) -> list[tuple[str, str, int, int]]:
    """(equipment, day, points, run ids) of ACM_Scores_Wide, by equipment and day."""
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    'SELECT e."EquipCode", s."Day", COUNT(*), COUNT(DISTINCT s."RunID") FROM "ACM_Scores_Wide" s'
                    ' JOIN "Equipment" e ON e."EquipID" = s."EquipID" GROUP BY e."EquipCode", s."Day" ORDER BY 1, 2'
                )
            ).all()
    finally:
        engine.dispose()
    return [(code, str(day), points, run_ids) for code, day, points, run_ids in rows]


def _run_ids_by_day(server: Server) -> dict[str, str]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text('SELECT DISTINCT "Day", "RunID" FROM "ACM_Scores_Wide"')).all()
    finally:
        engine.dispose()
    return {str(day): run_id for day, run_id in rows}


def test_per_equipment_backfill_of_two_months_scores_their_days_in_one_run(server):
    launched = server.query(
        "mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {"
        " __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }",
        params={
            "assetSelection": [{"path": [asset]} for asset in SCORING_ASSETS],
            "partitionNames": BACKFILL_MONTHS,
            "title": f"score {EQUIPMENT} for February and March",
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def finished():
        data = server.query(
            "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {"
            " status numPartitions runs { runId status tags { key value } } error { message } } } }",
            id=launched["backfillId"],
        )
        backfill = data["partitionBackfillOrError"]
        return backfill if backfill["status"] != "REQUESTED" else None

    backfill = _wait_for("the scoring backfill", server, BACKFILL_TIMEOUT_S, finished)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    # BackfillPolicy.single_run: both months of one equipment are one run.
    (run,) = backfill["runs"]
    assert run["status"] == "SUCCESS"
    assert (_tag(run, "dagster/asset_partition_range_start"), _tag(run, "dagster/asset_partition_range_end")) == (
        BACKFILL_MONTHS[0],
        BACKFILL_MONTHS[-1],
    )
    # Every day of both months up to the last day of the data ($ACM_LAST_DAY), 10-minute cadence, one run.
    assert _scored_days(server) == [(EQUIPMENT, str(d), 144, 1) for d in BACKFILL_DAYS]

    data = server.query(
        "query($keys: [String!]) { assetNodeOrError(assetKey: {path: [\"anomaly_scores\"]}) { ... on AssetNode {"
        " latestMaterializationByPartition(partitions: $keys) { runId partition } } } }",
        keys=BACKFILL_MONTHS,
    )
    materialized = data["assetNodeOrError"]["latestMaterializationByPartition"]
    assert [(m["partition"], m["runId"]) for m in materialized] == [(k, run["runId"]) for k in BACKFILL_MONTHS]


def _month_facts(server: Server) -> tuple[list, dict]:
    data = server.query(
        "query($keys: [String!]) { assetNodeOrError(assetKey: {path: [\"health_timeline\"]}) { ... on AssetNode {"
        " latest: assetMaterializations(limit: 1) { partition runId }"
        " byMonth: assetMaterializations(partitions: $keys) { partition runId metadataEntries { label"
        "   ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue }"
        "   ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr } } } } } }",
        keys=BACKFILL_MONTHS,
    )["assetNodeOrError"]
    return data["latest"], [
        (m["partition"], m["runId"], {e["label"]: e for e in m["metadataEntries"]}) for m in data["byMonth"]
    ]


def test_each_backfilled_month_shows_its_days_and_check(server):
    latest, facts = _month_facts(server)
    # The UI's "latest materialization" is the last month of the backfill, not whichever Dagster wrote last.
    assert [m["partition"] for m in latest] == [BACKFILL_MONTHS[-1]]
    by_month = {partition: entries for partition, _, entries in facts}
    assert sorted(by_month) == BACKFILL_MONTHS
    february, march = by_month[BACKFILL_MONTHS[0]], by_month[BACKFILL_MONTHS[1]]
    assert (february["days"]["text"], march["days"]["text"]) == (
        "2024-02-01 .. 2024-02-29 (29 days)", "2024-03-01 .. 2024-03-07 (7 days)"
    )
    assert (february["points"]["intValue"], march["points"]["intValue"]) == (29 * 144, 7 * 144)
    # What each month's status stands for: all of its scorable days are scored.
    assert (march["month_days_scored"]["intValue"], march["month_days_unscored"]["text"]) == (7, "none")
    assert march["plot"]["mdStr"].startswith(
        f"![{EQUIPMENT} {BACKFILL_DAYS[0]} .. {BACKFILL_DAYS[-1]} (this run's 36 days), model v1](data:image/png"
    )

    executions = server.query(
        'query { assetCheckExecutions(assetKey: {path: ["anomaly_scores"]}, checkName: "score_sanity", limit: 50) {'
        " evaluation { partition metadataEntries { label } } } }"
    )["assetCheckExecutions"]
    assert sorted(e["evaluation"]["partition"] for e in executions) == BACKFILL_MONTHS
    assert all(
        "unexplained_alert_share_limit" in {m["label"] for m in e["evaluation"]["metadataEntries"]} for e in executions
    )
    # Both views of the check agree: each month's evaluation names the month's latest materialization, so the
    # Partitions tab counts the months it passed (it counted them Missing while the pane said Passed).
    assert _check_partition_statuses(server) == {month: "SUCCEEDED" for month in BACKFILL_MONTHS}
    latest = server.query(
        "query($keys: [String!]) { assetNodeOrError(assetKey: {path: [\"anomaly_scores\"]}) { ... on AssetNode {"
        " latestMaterializationByPartition(partitions: $keys) { partition runId } } } }", keys=BACKFILL_MONTHS,
    )["assetNodeOrError"]["latestMaterializationByPartition"]
    targets = server.query(
        'query { assetCheckExecutions(assetKey: {path: ["anomaly_scores"]}, checkName: "score_sanity", limit: 50) {'
        " evaluation { partition targetMaterialization { runId } } } }"
    )["assetCheckExecutions"]
    assert sorted((e["evaluation"]["partition"], e["evaluation"]["targetMaterialization"]["runId"]) for e in targets) \
        == sorted((m["partition"], m["runId"]) for m in latest)


def _check_partition_statuses(server: Server) -> dict[str, str]:
    """What the check's Partitions tab shows: {equipment|month: status} for every partition with a status."""
    data = server.query(
        'query { assetNodeOrError(assetKey: {path: ["anomaly_scores"]}) { ... on AssetNode {'
        ' assetCheckOrError(checkName: "score_sanity") { ... on AssetCheck { partitionStatuses {'
        " ... on AssetCheckMultiPartitionStatuses { primaryDimensionName ranges { primaryDimStartKey primaryDimEndKey"
        "  secondaryDim {"
        "   ... on AssetCheckDefaultPartitionStatuses { succeededPartitions failedPartitions inProgressPartitions }"
        "   ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } } } } } } } } } }"
    )["assetNodeOrError"]["assetCheckOrError"]["partitionStatuses"]
    statuses = {}
    for span in data["ranges"]:  # run-length encoded over the primary dimension
        secondary = span["secondaryDim"]
        if data["primaryDimensionName"] == "month":
            for month in _months_between(span["primaryDimStartKey"], span["primaryDimEndKey"]):
                for status, keys in (("SUCCEEDED", secondary["succeededPartitions"]),
                                     ("FAILED", secondary["failedPartitions"]),
                                     ("IN_PROGRESS", secondary["inProgressPartitions"])):
                    statuses |= {f"{code}|{month}": status for code in keys}
        else:
            assert span["primaryDimStartKey"] == span["primaryDimEndKey"] == EQUIPMENT, span
            for time_range in secondary["ranges"]:
                for month in _months_between(time_range["startKey"], time_range["endKey"]):
                    statuses[f"{EQUIPMENT}|{month}"] = time_range["status"]
    return statuses


def _months_between(first: str, last: str) -> list[str]:
    months, month = [], dt.date.fromisoformat(f"{first}-01")
    while f"{month:%Y-%m}" <= last:
        months.append(f"{month:%Y-%m}")
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


def _wait_for_run(server: Server, run_id: str, what: str) -> str:
    def finished():
        data = server.query('query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }', id=run_id)
        status = data["runOrError"]["status"]
        return status if status in FINISHED_RUN else None

    return _wait_for(what, server, BACKFILL_TIMEOUT_S, finished)


def _launch_and_wait(server: Server, job: str, run_config: dict, tags: dict | None = None) -> tuple[str, str]:
    """Launches a run as the Launchpad does; its id and final status."""
    launched = server.query(
        "mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename"
        " ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }"
        " ... on RunConfigValidationInvalid { errors { message } } } }",
        params={"selector": {**REPOSITORY, "jobName": job}, "runConfigData": run_config,
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}},
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    return run_id, _wait_for_run(server, run_id, f"the {job} run")


def test_a_one_day_rerun_launched_as_the_launchpad_does_replaces_that_day_alone(server):
    before = _run_ids_by_day(server)
    run_id, status = _launch_and_wait(
        server, "scoring", {"ops": {"anomaly_scoring": {"config": {"first_day": RERUN_DAY, "last_day": RERUN_DAY}}}},
        tags={"dagster/partition": BACKFILL_MONTHS[-1], "dagster/partition/equipment": EQUIPMENT,
              "dagster/partition/month": BACKFILL_MONTHS[-1].split("|")[1]},
    )
    assert status == "SUCCESS"
    after = _run_ids_by_day(server)
    assert {day for day in after if after[day] != before[day]} == {RERUN_DAY}
    assert after[RERUN_DAY] == run_id and len(after) == len(before)
    latest, facts = _month_facts(server)
    assert latest[0]["runId"] == run_id
    rerun = next(entries for partition, run, entries in facts if run == run_id)
    assert (rerun["days"]["text"], rerun["points"]["intValue"], rerun["month_days_scored"]["intValue"]) == (
        RERUN_DAY, 144, 7
    )


def test_an_episode_is_triaged_from_the_launchpad_and_a_failed_decision_re_executed_from_failure(server):
    """An ID typed before its episode was written fails the run; once the episode exists, "Re-execute from
    failure" records the same decision."""
    engine = create_engine(server.database_url)
    equip_id = HistorianStore(engine).get_equipment(EQUIPMENT).equip_id
    onset, later = 1701417600, 1701504000  # 2023-12-01 and -02 08:00 UTC, before the history: no scored day is touched
    write_episodes(engine, equip_id, [episode_row(onset, 2)])
    decision = {"episode": f"{EQUIPMENT}:{onset}", "state": "normal", "decided_by": "ana", "note": "new duty"}
    assert _launch_and_wait(server, "triage", {"ops": {"record_triage": {"config": decision}}})[1] == "SUCCESS"
    unknown = {**decision, "episode": f"{EQUIPMENT}:{later}", "state": "fault"}
    failed, status = _launch_and_wait(server, "triage", {"ops": {"record_triage": {"config": unknown}}})
    assert status == "FAILURE"
    assert latest_triage(engine)["EpisodeID"].tolist() == [onset]

    write_episodes(engine, equip_id, [episode_row(later, 2)])
    retried = _reexecute(server, failed, "FROM_FAILURE")
    assert _wait_for_run(server, retried, "the re-execution from failure") == "SUCCESS"
    latest = latest_triage(engine).sort_values("EpisodeID")
    engine.dispose()
    decided = latest[["EpisodeID", "State", "DecidedBy", "Note"]].values.tolist()
    assert decided == [[onset, "normal", "ana", "new duty"], [later, "fault", "ana", "new duty"]]


def _reexecute(server: Server, parent: str, strategy: str) -> str:
    """Launches a re-execution of `parent` as the UI's Re-execute buttons do (strategy ALL_STEPS or
    FROM_FAILURE); returns its run id."""
    launched = server.query(
        "mutation($id: String!, $strategy: ReexecutionStrategy!) { launchPipelineReexecution(reexecutionParams:"
        " {parentRunId: $id, strategy: $strategy}) { __typename ... on LaunchRunSuccess { run { runId } }"
        " ... on PythonError { message } } }",
        id=parent, strategy=strategy,
    )["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_a_run_the_demo_launched_is_re_executed_from_the_ui(server, monkeypatch):
    """`acm demo` launches from the code location (not execute_in_process), so "Re-execute all" works."""
    monkeypatch.chdir(server.directory)
    with environ(server.settings), dg.DagsterInstance.get() as instance:
        with code_location(instance, server.directory / "demo.log") as launcher:
            parent = launch_scoring(launcher, EQUIPMENT, dt.date(2024, 3, 6), dt.date(2024, 3, 6))
            (run,) = launcher.wait([parent]).values()
    assert run.status == dg.DagsterRunStatus.SUCCESS

    child = _reexecute(server, parent, "ALL_STEPS")
    assert _wait_for_run(server, child, "the re-execution") == "SUCCESS"
    assert _run_ids_by_day(server)["2024-03-06"] == child
    (rerun,) = [r for r in _runs(server, [{"key": "acm/equipment", "value": EQUIPMENT}]) if r["runId"] == child]
    assert (_tag(rerun, "acm/days"), _tag(rerun, "dagster/parent_run_id")) == ("2024-03-06", parent)
