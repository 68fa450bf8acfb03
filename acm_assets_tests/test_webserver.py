"""The real `dagster dev` (webserver and daemon) on a small embedded database, driven through GraphQL as the UI does.

One server per module, started with the README's own commands on a DAGSTER_HOME that does not exist yet: its
start-up, the sensor's cold-start training and the backfill daemon's 30 s loop are what take the time, so the
tests share them and run in file order (graph, checks, automation, training, backfill, per-day facts). One
equipment keeps the cold start inside the backfill daemon's first 30 s cycle (two equipment train in parallel
on two shared cores and miss it, which costs a whole cycle). The process group is killed at the end, whatever
happened.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from acm_assets.database import create_engine
from acm_assets.detectors import ModelType
from acm_assets.ingest.historian import HistorianStore
from acm_assets.simulation.simulator import simulate
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.schema import create_registry_table
from acm_assets.registry.store import ModelStore
from acm_assets.settings import ENSEMBLE_CONFIG

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")
# The README's line that opens the UI (with $DAGSTER_HOME set), run here as written plus host and port.
README_UI_COMMAND = 'mkdir -p "$DAGSTER_HOME" && dagster dev -w workspace.yaml'
LOCATION = "acm_assets"
REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": LOCATION}

HISTORY_START = "2024-01-01"
HISTORY_DAYS = 67  # the default 60-day baseline ends at the last point; scoring then covers the last week
HISTORY_LAST_DAY = "2024-03-07"
EQUIPMENT = "FD_FAN"
BACKFILL_DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(7)]

MODEL_ASSETS = sorted(t.value for t in ModelType)
SCORING_ASSETS = ["anomaly_episodes", "anomaly_scores", "health_timeline"]
HEADS_WITH_QUALITY_CHECK = sorted(set(MODEL_ASSETS) - {"feature_medians", "regime_model"})

START_TIMEOUT_S = 60
TRAINING_TIMEOUT_S = 90
BACKFILL_TIMEOUT_S = 120
FINISHED_RUN = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass(frozen=True)
class Server:
    port: int
    database_url: str
    log: Path

    def query(self, text: str, **variables) -> dict:
        """POST one GraphQL document; GraphQL-level errors fail the test with their messages."""
        body = json.dumps({"query": text, "variables": variables}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        if answer.get("errors"):
            pytest.fail(f"GraphQL errors: {[e.get('message') for e in answer['errors']]}")
        return answer["data"]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, then SIGKILL: dagster dev's code servers can outlive a polite stop."""
    for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers (run workers, code servers) of an exited leader
    except ProcessLookupError:
        pass


def _wait_until_loaded(server: Server, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}:\n{server.log_tail()}")
        try:
            data = server.query(
                "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError {"
                " __typename ... on PythonError { message } } } } } }"
            )
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
            continue
        entries = {e["name"]: e for e in data["workspaceOrError"]["locationEntries"]}
        entry = entries.get(LOCATION)
        if entry and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"]
            if loaded["__typename"] != "RepositoryLocation":
                pytest.fail(f"code location {LOCATION} failed to load: {loaded.get('message')}")
            return
        time.sleep(0.5)
    pytest.fail(f"dagster dev did not load {LOCATION} within {START_TIMEOUT_S} s:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    home = tmp_path_factory.mktemp("dagster_dev")
    acm_home, dagster_home = home / "acm_home", home / "fresh" / "dagster_home"
    acm_home.mkdir()
    database_url = f"sqlite:///{acm_home / 'acm.db'}"
    _fill_database(database_url)

    env = {**os.environ, "ACM_HOME": str(acm_home), "DAGSTER_HOME": str(dagster_home)}
    for name in ("ACM_DATABASE_URL", "ACM_ENSEMBLE_CONFIG", "ACM_REGISTRY_HMAC_KEY"):
        env.pop(name, None)
    # As `acm demo` prints it: the day partitions cover the data's days.
    env |= {"ACM_FIRST_DAY": HISTORY_START, "ACM_LAST_DAY": HISTORY_LAST_DAY, "PATH": f"{DAGSTER.parent}:{env['PATH']}"}
    port = _free_port()
    log = home / "dagster_dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", f"{README_UI_COMMAND.replace('&& dagster', '&& exec dagster')} -h 127.0.0.1 -p {port}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = Server(port, database_url, log)
        _wait_until_loaded(started, process)
        yield started
    finally:
        _stop(process)


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

    assert sorted(nodes) == sorted(["baseline", *MODEL_ASSETS, *SCORING_ASSETS])
    groups = {key: node["groupName"] for key, node in nodes.items()}
    assert groups == {"baseline": "ingest"} | dict.fromkeys(MODEL_ASSETS, "training") | dict.fromkeys(
        SCORING_ASSETS, "scoring"
    )
    assert all(node["isPartitioned"] for node in nodes.values())
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


def test_day_partitions_cover_the_days_of_the_data(server):
    data = server.query(
        '{ assetNodeOrError(assetKey: {path: ["health_timeline"]}) { ... on AssetNode {'
        " partitionKeysByDimension { name partitionKeys } } } }"
    )
    dimensions = {d["name"]: d["partitionKeys"] for d in data["assetNodeOrError"]["partitionKeysByDimension"]}
    assert len(dimensions["day"]) == HISTORY_DAYS
    assert (dimensions["day"][0], dimensions["day"][-1]) == (HISTORY_START, HISTORY_LAST_DAY)


def test_schedules_are_stopped_and_the_equipment_sensor_runs(server):
    data = server.query(
        "query($repo: RepositorySelector!) {"
        " schedulesOrError(repositorySelector: $repo) { ... on Schedules { results {"
        "   name cronSchedule pipelineName scheduleState { status } } } }"
        " sensorsOrError(repositorySelector: $repo) { ... on Sensors { results {"
        "   name minIntervalSeconds targets { pipelineName } sensorState { status } } } } }",
        repo=REPOSITORY,
    )
    schedules = {s["name"]: s for s in data["schedulesOrError"]["results"]}
    sensors = {s["name"]: s for s in data["sensorsOrError"]["results"]}

    shown = {n: (s["pipelineName"], s["cronSchedule"], s["scheduleState"]["status"]) for n, s in schedules.items()}
    assert shown == {
        "daily_scoring_schedule": ("scoring", "30 1 * * *", "STOPPED"),
        "weekly_training_schedule": ("training", "0 3 * * 0", "STOPPED"),
    }
    assert list(sensors) == ["equipment_sensor"]
    sensor = sensors["equipment_sensor"]
    assert sensor["sensorState"]["status"] == "RUNNING"
    assert [t["pipelineName"] for t in sensor["targets"]] == ["training"]


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


def test_per_equipment_backfill_of_seven_days_scores_exactly_those_days(server):
    keys = [str(dg.MultiPartitionKey({"equipment": EQUIPMENT, "day": d.isoformat()})) for d in BACKFILL_DAYS]
    launched = server.query(
        "mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {"
        " __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }",
        params={
            "assetSelection": [{"path": [asset]} for asset in SCORING_ASSETS],
            "partitionNames": keys,
            "title": f"score {EQUIPMENT} for a week",
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
    # BackfillPolicy.single_run: the whole week of one equipment is one run.
    (run,) = backfill["runs"]
    assert run["status"] == "SUCCESS"
    assert (_tag(run, "dagster/asset_partition_range_start"), _tag(run, "dagster/asset_partition_range_end")) == (
        keys[0],
        keys[-1],
    )

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
    assert [(code, str(day)) for code, day, _, _ in rows] == [(EQUIPMENT, str(d)) for d in BACKFILL_DAYS]
    assert all(points == 144 and run_ids == 1 for _, _, points, run_ids in rows)  # 10-minute cadence, one run

    data = server.query(
        "query($keys: [String!]) { assetNodeOrError(assetKey: {path: [\"anomaly_scores\"]}) { ... on AssetNode {"
        " latestMaterializationByPartition(partitions: $keys) { runId partition } } } }",
        keys=keys,
    )
    materialized = data["assetNodeOrError"]["latestMaterializationByPartition"]
    assert [(m["partition"], m["runId"]) for m in materialized] == [(k, run["runId"]) for k in keys]


def test_each_backfilled_day_shows_its_own_facts_and_check(server):
    keys = [str(dg.MultiPartitionKey({"equipment": EQUIPMENT, "day": d.isoformat()})) for d in BACKFILL_DAYS]
    data = server.query(
        "query($keys: [String!]) { assetNodeOrError(assetKey: {path: [\"health_timeline\"]}) { ... on AssetNode {"
        " latest: assetMaterializations(limit: 1) { partition }"
        " byDay: assetMaterializations(partitions: $keys) { partition metadataEntries { label"
        "   ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue }"
        "   ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr } } } } } }",
        keys=keys,
    )["assetNodeOrError"]
    # The UI's "latest materialization" is the last day of the backfill, not whichever day Dagster wrote last.
    assert [m["partition"] for m in data["latest"]] == [keys[-1]]
    facts = {}
    for materialization in data["byDay"]:
        entries = {e["label"]: e for e in materialization["metadataEntries"]}
        facts[materialization["partition"]] = entries
    assert sorted(facts) == sorted(keys)
    first, second = facts[keys[0]], facts[keys[1]]
    assert first["points"]["intValue"] == second["points"]["intValue"] == 144
    assert (first["health_mean"]["floatValue"], first["health_min"]["floatValue"]) != (
        second["health_mean"]["floatValue"], second["health_min"]["floatValue"]
    )
    assert facts[keys[-1]]["plot"]["mdStr"].startswith(
        f"![{EQUIPMENT} {BACKFILL_DAYS[0]} .. {BACKFILL_DAYS[-1]} (this run's 7 days), model v1](data:image/png"
    )

    executions = server.query(
        'query { assetCheckExecutions(assetKey: {path: ["anomaly_scores"]}, checkName: "score_sanity", limit: 50) {'
        " evaluation { partition metadataEntries { label } } } }"
    )["assetCheckExecutions"]
    assert sorted(e["evaluation"]["partition"] for e in executions) == sorted(keys)
    assert all(
        "unexplained_alert_share_limit" in {m["label"] for m in e["evaluation"]["metadataEntries"]} for e in executions
    )
