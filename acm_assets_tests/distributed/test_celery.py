"""Training through the Celery executor on two real `dagster-celery` workers, PostgreSQL instance storage and
a PostgreSQL registry; then the faults an operator meets: a worker's process lost mid-step, the broker down at
launch, the database dropping every connection mid-run, two schedulers at once, a whole worker lost mid-step.
The tests share one cluster and run in file order."""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from acm_assets.bench.fleet import alive, baseline_window, descendants, execute_all, training_request
from acm_assets.detectors import DetectorEnsemble, ModelType
from acm_assets.executors import CELERY_BROKER_ENV
from acm_assets.ingest.historian import HistorianStore
from acm_assets.partitions import scoring_partition_key
from acm_assets.settings import ENSEMBLE_CONFIG
from acm_assets_tests.distributed.conftest import BASELINE_DAYS, CODES, LOCATION_MODULE
from acm_assets_tests.distributed.schedulers import SCHEDULE, start_schedule, tick

MODEL_TYPES = sorted(t.value for t in ModelType)


def run_text(cluster, run_id: str) -> str:
    """Everything the UI shows for a run (event messages and error details) as one string."""
    return "\n".join(f"{event.message} {event.event_specific_data!r}" for event in cluster.events(run_id))


def workers_used(cluster, run_ids) -> set[str]:
    return {
        event.engine_event_data.metadata["Celery worker"].value.split("@")[0]
        for run_id in run_ids
        for event in cluster.events(run_id)
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT and "Celery worker" in event.engine_event_data.metadata
    }


def test_six_equipment_train_on_two_celery_workers(cluster):
    """Three runs in flight at once, each orchestrated in its own process (as a run launcher would)."""
    requests = [training_request(code, BASELINE_DAYS) for code in CODES]
    outcomes = execute_all(LOCATION_MODULE, requests, concurrent_runs=3, env=cluster.env)
    assert [error for _, error in outcomes] == [None] * len(CODES)
    for code in CODES:
        assert cluster.versions(code) == {1: True}
        manifest = cluster.registry().manifest(cluster.equipment(code))
        assert sorted(manifest["saved_models"]) == MODEL_TYPES
    assert workers_used(cluster, [run_id for run_id, _ in outcomes]) == set(cluster.workers.workers)


def test_models_trained_on_workers_score_like_local_fits(cluster):
    """Registry round trip across processes and machines: bit-identical scores from stored and local models."""
    code = CODES[0]
    historian = HistorianStore(cluster.engine)
    window = {k: pd.Timestamp(v, tz="UTC") for k, v in baseline_window(BASELINE_DAYS).items()}
    frame = historian.read_window(code, window["start"], window["end"]).frame
    local = DetectorEnsemble(ENSEMBLE_CONFIG).fit(frame).models
    day = historian.read_window(code, window["end"], window["end"] + pd.Timedelta(days=1), drop_constant=False).frame

    def scores(models: dict) -> pd.DataFrame:
        return DetectorEnsemble.from_models(models, ENSEMBLE_CONFIG).score(day)

    first, second = (
        {t: m.value for t, m in cluster.registry().load_version(cluster.equipment(code)).items()} for _ in range(2)
    )
    expected = scores(local)
    assert expected["fused_z"].notna().any()
    pd.testing.assert_frame_equal(scores(first), expected, check_exact=True)
    pd.testing.assert_frame_equal(scores(second), expected, check_exact=True)


def test_worker_lost_mid_step_fails_the_run_and_reexecution_completes_the_same_version(cluster):
    code = CODES[1]
    killed: dict = {}

    def kill_pool_process(run_id: str, hostname: str) -> None:
        name = hostname.split("@")[0]
        killed.update(run_id=run_id, worker=name, pids=cluster.workers.pool_pids(name))
        for pid in killed["pids"]:
            os.kill(pid, signal.SIGKILL)

    watcher = cluster.when_step_starts("iforest_model", kill_pool_process)
    result = cluster.train(code)
    watcher.join()
    assert killed["pids"] and killed["run_id"] == result.run_id

    # What the operator sees: a failed run naming the step and the lost worker process.
    assert not result.success
    assert cluster.instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
    text = run_text(cluster, result.run_id)
    assert "WorkerLostError" in text and "iforest_model" in text
    # The models it did write stay in an incomplete version that nothing loads.
    assert cluster.versions(code) == {1: True, 2: False}
    assert cluster.registry().latest_version(cluster.equipment(code)) == 1

    retry = cluster.reexecute_from_failure(result.run_id)
    assert retry.success, run_text(cluster, retry.run_id)[-2000:]
    assert cluster.versions(code) == {1: True, 2: True}
    assert sorted(cluster.registry().manifest(cluster.equipment(code), 2)["saved_models"]) == MODEL_TYPES
    # Celery replaced the killed pool process; the worker itself never went away.
    assert cluster.workers.pool_pids(killed["worker"]) and not set(killed["pids"]) & set(cluster.workers.pool_pids(killed["worker"]))


def test_broker_down_at_launch_fails_before_any_step(cluster, monkeypatch):
    code = CODES[2]
    broker = os.environ[CELERY_BROKER_ENV]
    monkeypatch.setenv(CELERY_BROKER_ENV, "pyamqp://guest:guest@127.0.0.1:1//")
    result = cluster.train(code)
    assert not result.success
    text = run_text(cluster, result.run_id)
    assert "Encountered error during celery task submission" in text
    assert not [e for e in cluster.events(result.run_id) if e.event_type == dg.DagsterEventType.STEP_START]
    assert cluster.versions(code) == {1: True}

    monkeypatch.setenv(CELERY_BROKER_ENV, broker)
    retry = cluster.reexecute_from_failure(result.run_id)
    assert retry.success, run_text(cluster, retry.run_id)[-2000:]
    assert cluster.versions(code) == {1: True, 2: True}


def test_database_dropping_connections_mid_run_ends_in_one_complete_version(cluster):
    """Stand-in for a PostgreSQL restart that does not disturb other tests on the shared server: every other
    connection to this test's database (instance storage and ACM tables) is terminated while a step runs."""
    code = CODES[3]
    terminated: list[int] = []

    def terminate_connections(run_id: str, hostname: str) -> None:
        engine = sa.create_engine(cluster.url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            others = conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            ).scalars().all()
            for pid in others:
                if conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one():
                    terminated.append(pid)
        engine.dispose()

    watcher = cluster.when_step_starts("pca_model", terminate_connections)
    result = cluster.train(code)
    watcher.join()
    cluster.engine.dispose()
    assert terminated, "no connection was open to terminate"
    final = result if result.success else cluster.reexecute_from_failure(result.run_id)
    if not result.success:
        assert cluster.instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
    assert final.success, run_text(cluster, final.run_id)[-2000:]
    assert cluster.versions(code) == {1: True, 2: True}
    assert sorted(cluster.registry().manifest(cluster.equipment(code), 2)["saved_models"]) == MODEL_TYPES



def test_two_schedulers_ticking_at_once_lose_nothing_and_duplicate_only_identical_queued_runs(cluster):
    """Two scheduler processes evaluate the same daily-scoring tick at the same moment on the shared
    PostgreSQL instance; runs go to the QueuedRunCoordinator of deploy/dagster.yaml (queued, not executed).

    Dagster's run-key check is check-then-insert, so a second daemon can queue the same request again (this
    is why a deployment runs exactly one `dagster-daemon`). What the operator then sees is bounded: the day's
    run over the six trained equipment is there, at most once per scheduler, duplicates identical and still
    QUEUED, and the scoring output tables replace each day's rows, so no output row is duplicated."""
    start_schedule(LOCATION_MODULE)
    tomorrow = pd.Timestamp.now(tz="UTC").normalize() + pd.Timedelta(days=1)
    end = (tomorrow + pd.Timedelta(hours=1, minutes=31)).isoformat()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        for future in [pool.submit(tick, LOCATION_MODULE, end) for _ in range(2)]:
            future.result()
    runs = cluster.instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": SCHEDULE}))
    day = (tomorrow - pd.Timedelta(days=1)).date()
    by_key: dict[str, list] = {}
    for run in runs:
        by_key.setdefault(run.tags["dagster/run_key"], []).append(run)
    assert set(by_key) == {f"score:{day}:{CODES[0]}..{CODES[-1]}"}  # one daily run holds up to 50 equipment
    (same,) = by_key.values()
    assert 1 <= len(same) <= 2
    assert {run.status for run in same} == {dg.DagsterRunStatus.QUEUED}
    bounds = {(run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"])
              for run in same}
    assert bounds == {(str(scoring_partition_key(CODES[0], day)), str(scoring_partition_key(CODES[-1], day)))}


def test_whole_worker_lost_mid_step_hands_the_step_to_the_other_worker(cluster):
    """The worker's host goes away mid-step (every process of one worker is killed). Its task was not yet
    acknowledged (deploy/celery.yaml: task_acks_late), so the broker redelivers it to the other worker and the
    run completes one version. Last in the file: the cluster has one worker left afterwards."""
    code = CODES[4]
    killed: dict = {}

    def kill_worker(run_id: str, hostname: str) -> None:
        name = hostname.split("@")[0]
        root = cluster.workers.workers[name].pid
        killed.update(run_id=run_id, worker=name, pids=[root, *descendants(root)])
        for pid in killed["pids"]:
            os.kill(pid, signal.SIGKILL)

    watcher = cluster.when_step_starts("iforest_model", kill_worker)
    result = cluster.train(code)
    watcher.join()
    assert killed["run_id"] == result.run_id and len(killed["pids"]) >= 3
    assert not any(alive(pid) for pid in killed["pids"])

    assert result.success, run_text(cluster, result.run_id)[-2000:]
    assert cluster.versions(code) == {1: True, 2: True}
    assert sorted(cluster.registry().manifest(cluster.equipment(code), 2)["saved_models"]) == MODEL_TYPES
    # The step's task went to the killed worker, then to the other one.
    iforest_workers = {
        event.engine_event_data.metadata["Celery worker"].value.split("@")[0]
        for event in cluster.events(result.run_id)
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT
        and event.step_key == "iforest_model"
        and "Celery worker" in event.engine_event_data.metadata
    }
    assert iforest_workers == set(cluster.workers.workers)
