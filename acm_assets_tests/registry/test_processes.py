"""Semantics that need more than one process or a Dagster run history: re-execution from failure,
concurrent training runs, kill -9 between model writes and inside the committing transaction."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from acm_assets.registry.errors import VersionNotFoundError
from acm_assets.registry.schema import model_registry
from acm_assets_tests.registry import stand_in
from acm_assets_tests.registry.stand_in import MODEL_TYPES

REPO = Path(__file__).resolve().parents[2]
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
PARTITION = {"dagster/partition": "FD_FAN"}


def child(url: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "acm_assets_tests.registry.training_process", url, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(marker: Path, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"child exited early: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("child never reached the marker")
        time.sleep(0.05)


def kill9(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_reexecution_from_failure_completes_the_same_version(registry_url, store, fd_fan, monkeypatch, tmp_path):
    monkeypatch.setenv("ACM_TEST_REGISTRY_URL", registry_url)
    monkeypatch.setenv("ACM_TEST_FAIL_ASSETS", "pca_model")
    job = dg.reconstructable(stand_in.training_job)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions("equipment", ["FD_FAN"])
        with dg.execute_job(job, instance, run_config=IN_PROCESS, tags=PARTITION) as failed:
            assert not failed.success
        monkeypatch.delenv("ACM_TEST_FAIL_ASSETS")
        options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
        # The UI copies the parent's tags into a re-execution; execute_job needs them given.
        with dg.execute_job(job, instance, run_config=IN_PROCESS, tags=PARTITION, reexecution_options=options) as retried:
            assert retried.success
            assert {e.step_key for e in retried.get_step_success_events()} == {"pca_model"}
            retried_run_id = retried.run_id
    (info,) = store.versions(fd_fan.equip_id)
    assert (info.version, info.complete, info.model_types) == (1, True, tuple(sorted(MODEL_TYPES)))
    manifest = store.manifest(fd_fan)
    assert manifest["carried_forward"] == {}
    assert manifest["models"]["pca_model"]["run_id"] == retried_run_id
    assert manifest["models"]["ar1_params"]["run_id"] == failed.run_id
    # The re-executed step read the upstream model its failed parent run had written into the pending version.
    assert store.load(fd_fan, "pca_model").value.upstream["feature_medians"] == {"version": 1, "run_id": failed.run_id}
    with store.engine.connect() as conn:
        assert set(conn.execute(sa.select(model_registry.c.RunID)).scalars()) == {failed.run_id}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the plan, not the dialect, is under test
def test_multiprocess_executor_commits_one_version(registry_url, store, fd_fan, monkeypatch, tmp_path):
    """Each step in its own process: every process must read the same plan and find the same version."""
    monkeypatch.setenv("ACM_TEST_REGISTRY_URL", registry_url)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions("equipment", ["FD_FAN"])
        with dg.execute_job(dg.reconstructable(stand_in.training_job), instance, tags=PARTITION) as result:
            assert result.success
            pids = {event.pid for event in result.all_events if event.event_type_value == "STEP_START"}
            run_id = result.run_id
    assert len(pids) == len(MODEL_TYPES)
    (info,) = store.versions(fd_fan.equip_id)
    assert (info.version, info.complete, info.run_id) == (1, True, run_id)
    assert store.load(fd_fan, "pca_model").value.upstream["feature_medians"] == {"version": 1, "run_id": run_id}


def test_concurrent_dagster_runs_get_distinct_versions(registry_url, store, fd_fan):
    children = [child(registry_url) for _ in range(4)]
    outputs = [json.loads(process.communicate(timeout=240)[0].strip().splitlines()[-1]) for process in children]
    assert all(output["success"] for output in outputs)
    infos = store.versions(fd_fan.equip_id)
    assert sorted(info.version for info in infos) == [1, 2, 3, 4]
    assert all(info.complete and info.model_types == tuple(sorted(MODEL_TYPES)) for info in infos)
    assert {info.run_id for info in infos} == {output["run_id"] for output in outputs}
    for info in infos:
        assert all(model.value.run_id == info.run_id for model in store.load_version(fd_fan, version=info.version).values())


def test_concurrent_store_writers_never_collide(registry_url, store, fd_fan):
    children = [child(registry_url, "--store-runs", "3") for _ in range(4)]
    results = []
    for process in children:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-2000:]
        results += json.loads(out.strip().splitlines()[-1])["run_ids"]
    infos = store.versions(fd_fan.equip_id)
    assert len(infos) == 10  # retention keeps the newest 10 commits of 12
    # Writers take numbers in order but may commit out of order: the listing is newest commit first.
    assert len({info.version for info in infos}) == 10 and {info.version for info in infos} <= set(range(1, 13))
    stamps = [info.entry_datetime for info in infos]
    assert stamps == sorted(stamps, reverse=True)
    assert all(info.complete for info in infos)
    assert {info.run_id for info in infos} <= set(results)
    assert len({info.run_id for info in infos}) == 10


def test_kill_between_two_model_writes_leaves_no_visible_version(registry_url, store, fd_fan, tmp_path):
    marker = tmp_path / "hang"
    process = child(registry_url, env={"ACM_TEST_HANG_ASSET": "ar1_params", "ACM_TEST_HANG_MARKER": str(marker)})
    wait_for(marker, process)
    kill9(process)
    (info,) = store.versions(fd_fan.equip_id)
    assert not info.complete and info.model_types == ("feature_medians",)
    with pytest.raises(VersionNotFoundError):
        store.latest_version(fd_fan)
    assert store.prune(stale_after=timedelta(0)) == []  # held by its lease: nothing can tell it died
    dead = store.prune(stale_after=timedelta(0), liveness=lambda run_id: False)  # its instance knows it died
    assert dead == [(fd_fan.equip_id, 1, "stale partial")]
    assert store.versions(fd_fan.equip_id) == []


def test_kill_inside_the_commit_transaction_leaves_no_visible_version(registry_url, store, fd_fan, tmp_path):
    marker = tmp_path / "hang"
    process = child(registry_url, "--hang-after-manifest", str(marker))
    wait_for(marker, process)
    kill9(process)
    with pytest.raises(VersionNotFoundError):
        store.latest_version(fd_fan)
    (info,) = store.versions(fd_fan.equip_id)
    assert not info.complete and len(info.model_types) == len(MODEL_TYPES) - 1
    # The lock died with the process: the next run commits normally.
    output = json.loads(child(registry_url).communicate(timeout=240)[0].strip().splitlines()[-1])
    assert output["success"]
    assert store.latest_version(fd_fan) == 2
