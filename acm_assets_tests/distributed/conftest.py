"""A small production deployment for the module: deploy/dagster.yaml on a fresh PostgreSQL database (instance
storage and ACM tables together), RabbitMQ as the Celery broker, two `dagster-celery` workers, six equipment."""

from __future__ import annotations

import os
import threading
import uuid
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.definitions.reconstruct import ReconstructableRepository
from kombu import Connection

from acm_assets.bench.fleet import (
    DEFAULT_BROKER,
    DEPLOY_DIR,
    CeleryWorkers,
    alive,
    baseline_window,
    fresh_postgres_database,
    postgres_instance_env,
    seed_fleet,
)
from acm_assets.database import DATABASE_URL_ENV, create_engine
from acm_assets.executors import CELERY_BROKER_ENV, CELERY_QUEUE_ENV, EXECUTOR_ENV
from acm_assets.ingest.historian import HistorianStore
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.store import ModelStore
from acm_assets_tests.conftest import skip_or_fail

BROKER_URL_ENV = "ACM_TEST_BROKER_URL"
LOCATION_MODULE = "acm_assets_tests.distributed.location"
CODES = [f"FAN_{i}" for i in range(1, 7)]
BASELINE_DAYS = 14
SCORED_DAYS = 2


@dataclass
class Cluster:
    url: str
    instance: dg.DagsterInstance
    workers: CeleryWorkers
    env: dict[str, str]
    engine: sa.Engine = field(init=False)

    def __post_init__(self):
        self.engine = create_engine(self.url)

    def job(self, name: str = "training"):
        repository = ReconstructableRepository.for_module(LOCATION_MODULE, "defs", working_directory=os.getcwd())
        return repository.get_reconstructable_job(name)

    def train(self, code: str, **kwargs) -> dg.ExecuteJobResult:
        """One training run of one equipment: orchestrated here, every step on a Celery worker."""
        return dg.execute_job(
            self.job(),
            instance=self.instance,
            tags={"dagster/partition": code},
            run_config={"ops": {"baseline": {"config": baseline_window(BASELINE_DAYS)}}},
            **kwargs,
        )

    def reexecute_from_failure(self, run_id: str) -> dg.ExecuteJobResult:
        """What "Re-execute from failure" in the UI does: the failed steps and everything after them, with the
        failed run's partition (the UI copies its tags; `execute_job` needs them given)."""
        partition = self.instance.get_run_by_id(run_id).tags["dagster/partition"]
        return dg.execute_job(
            self.job(),
            instance=self.instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(run_id, self.instance),
            tags={"dagster/partition": partition},
        )

    def registry(self) -> ModelStore:
        return ModelStore(self.engine)

    def equipment(self, code: str) -> Equipment:
        return Equipment(HistorianStore(self.engine).get_equipment(code).equip_id, code)

    def versions(self, code: str) -> dict[int, bool]:
        """{version: complete} of one equipment, as the registry tables hold them."""
        return {v.version: v.complete for v in self.registry().versions(self.equipment(code).equip_id)}

    def events(self, run_id: str) -> list[dg.DagsterEvent]:
        records = self.instance.get_records_for_run(run_id).records
        return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]

    def when_step_starts(self, step_key: str, action: Callable[[str, str], None], timeout: float = 120.0) -> threading.Thread:
        """In the background, wait for the next run to hand `step_key` to a Celery worker, then call
        action(run_id, worker hostname) at once (the step is then still initialising or fitting)."""
        known = {run.run_id for run in self.instance.get_runs()}

        def watch():
            watcher = dg.DagsterInstance.from_ref(self.instance.get_ref())
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for run in watcher.get_runs(limit=5):
                    if run.run_id in known:
                        continue
                    for event in watcher.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                        data = event.dagster_event.engine_event_data
                        if event.dagster_event.step_key == step_key and "Celery worker" in data.metadata:
                            action(run.run_id, data.metadata["Celery worker"].value)
                            return
                time.sleep(0.05)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return thread


def broker_url() -> str:
    url = os.environ.get(BROKER_URL_ENV, DEFAULT_BROKER)
    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure means "no broker here"
        skip_or_fail(f"Celery broker at {url} is unreachable: {type(exc).__name__}")
    return url


@pytest.fixture(scope="module")
def module_cluster(postgres_server_url, tmp_path_factory):
    broker = broker_url()
    tmp = tmp_path_factory.mktemp("celery")
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DEPLOY_DIR / "dagster.yaml").read_text())
    with fresh_postgres_database(postgres_server_url) as url, pytest.MonkeyPatch.context() as patch:
        env = {
            "DAGSTER_HOME": str(home),
            **postgres_instance_env(url),
            EXECUTOR_ENV: "celery",
            CELERY_BROKER_ENV: broker,
            # Our own queue: other sessions on the same broker must never run our steps (or we theirs).
            CELERY_QUEUE_ENV: f"acm-test-{uuid.uuid4().hex[:12]}",
            DATABASE_URL_ENV: url,
            "ACM_HOME": str(tmp / "acm_home"),
        }
        for key, value in env.items():
            patch.setenv(key, value)
        with dg.DagsterInstance.get() as instance:
            seed_fleet(url, instance, CODES, BASELINE_DAYS, SCORED_DAYS)
            workers = CeleryWorkers(env, tmp / "logs", count=2)
            with workers:
                cluster = Cluster(url, instance, workers, env)
                yield cluster
                cluster.engine.dispose()
                started = workers.pids()
            left = [pid for pid in started if alive(pid)]
            assert not left, f"worker processes still running after stop: {left}"


@pytest.fixture
def cluster(module_cluster, monkeypatch) -> Cluster:
    """The module's cluster, with its environment set again over the suite's per-test isolation (the run
    orchestrated in this process resolves the same variables as the workers)."""
    for key, value in module_cluster.env.items():
        monkeypatch.setenv(key, value)
    return module_cluster
