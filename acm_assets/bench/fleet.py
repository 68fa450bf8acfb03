"""Fleet scale: train every equipment and score every equipment x day with three executors on the same data.

Runs go through Dagster's real execution (`dg.execute_job` on a reconstructable job, several runs at once
like a queued run coordinator with `max_concurrent_runs`), with the in-process executor, the multiprocess
executor, and the Celery executor on `dagster-celery` workers started here (and stopped by pid). Training
is one run per equipment (the model assets hold one artifact per run); scoring batches several equipment
x every day into one run through a partition range, the way a single-run backfill would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from kombu import Connection
from dagster._core.definitions.reconstruct import ReconstructableRepository

from acm_assets.assets.ingest import baseline
from acm_assets.assets.scoring import anomaly_scoring, scoring_days
from acm_assets.assets.training import model_assets
from acm_assets.database import DATABASE_URL_ENV, create_engine
from acm_assets.definitions import build_resources
from acm_assets.detectors import DetectorEnsemble
from acm_assets.executors import CELERY_BROKER_ENV, CELERY_QUEUE_ENV, EXECUTOR_ENV, EXECUTORS, executor_from_env
from acm_assets.ingest.historian import HistorianStore
from acm_assets.simulation.simulator import simulate
from acm_assets.outputs.schema import OUTPUT_TABLES
from acm_assets.outputs.store import OutputStore
from acm_assets.jobs import scoring_job, training_job
from acm_assets.partitions import scoring_partition_key
from acm_assets.registry.schema import create_registry_table
from acm_assets.settings import ENSEMBLE_CONFIG

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
DEFAULT_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
FIRST_DAY = pd.Timestamp("2024-01-01", tz="UTC")
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# This module is also the code location the bench's runs and Celery workers load (executor from the env).
defs = dg.Definitions(
    assets=[baseline, *model_assets, anomaly_scoring],
    jobs=[training_job, scoring_job],
    resources=build_resources(dg.EnvVar(DATABASE_URL_ENV)),
    executor=executor_from_env(),
)


def add_arguments(parser) -> None:
    parser.add_argument("--equipment", type=int, default=100, help="equipment in the fleet")
    parser.add_argument("--days", type=int, default=30, help="days scored per equipment")
    parser.add_argument("--baseline-days", type=int, default=14, help="training window per equipment")
    parser.add_argument("--profiles", default=",".join(EXECUTORS), help="executors to run, comma-separated")
    parser.add_argument("--concurrent-runs", type=int, default=2, help="runs in flight at once")
    parser.add_argument("--equipment-per-scoring-run", type=int, default=0,
                        help="equipment x all days per scoring run (0: the fleet split evenly over the runs in flight)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (one process each)")
    parser.add_argument("--broker", default=os.environ.get(CELERY_BROKER_ENV, DEFAULT_BROKER))
    parser.add_argument("--postgres", default=None,
                        help="PostgreSQL server URL: a fresh database there holds the instance and the ACM "
                             "tables (dropped afterwards); default: SQLite files in a temporary directory")


def run(args) -> dict:
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = sorted(set(profiles) - set(EXECUTORS))
    if unknown:
        raise SystemExit(f"fleet: unknown profiles {', '.join(unknown)} (expected {', '.join(EXECUTORS)})")
    codes = [f"EQ{i:04d}" for i in range(1, args.equipment + 1)]
    with tempfile.TemporaryDirectory(prefix="acm-fleet-") as tmp, _databases(Path(tmp), args.postgres) as (url, env):
        env = {**env, DATABASE_URL_ENV: url, CELERY_BROKER_ENV: args.broker, CELERY_QUEUE_ENV: f"acm-{uuid.uuid4().hex[:12]}"}
        started = time.perf_counter()
        with _environment(env), dg.DagsterInstance.get() as instance:
            seed_fleet(url, instance, codes, args.baseline_days, args.days)
        report = {
            "equipment": args.equipment,
            "days": args.days,
            "baseline_days": args.baseline_days,
            "concurrent_runs": args.concurrent_runs,
            "storage": "postgresql" if args.postgres else "sqlite",
            "seed_seconds": round(time.perf_counter() - started, 2),
            "direct": _direct_costs(url, codes[0], args.baseline_days, args.days),
            "profiles": {},
        }
        for profile in profiles:
            plan = FleetPlan(codes, args.baseline_days, args.days, args.concurrent_runs, args.equipment_per_scoring_run)
            report["profiles"][profile] = run_profile(profile, plan, {**env, EXECUTOR_ENV: profile}, Path(tmp),
                                                       args.workers)
    report["estimate_1000_equipment"] = _estimate(report)
    return report


# ---------------------------------------------------------------- the fleet's data


def seed_fleet(url: str, instance: dg.DagsterInstance, codes: list[str], baseline_days: int, days: int) -> None:
    """Simulated FD_FAN history per equipment (faults only after the baseline window; simulator seeds 1, 2, ...),
    every ACM table, and one dynamic partition per equipment, in fleet order."""
    engine = create_engine(url)
    historian = HistorianStore(engine)
    historian.create_tables()
    create_registry_table(engine)
    # Up front, as a deployment would: steps starting at once on several workers race to create them.
    OutputStore(engine, OUTPUT_TABLES).create_tables()
    scoring_start = FIRST_DAY + pd.Timedelta(days=baseline_days)
    for seed, code in enumerate(codes, start=1):
        simulation = simulate("FD_FAN", start=FIRST_DAY, days=baseline_days + days, seed=seed,
                              faults_after=scoring_start)
        historian.add_equipment(code, equip_type="FD_FAN", tags=simulation.tag_info)
        historian.write_frame(code, simulation.frame)
    engine.dispose()
    instance.add_dynamic_partitions("equipment", codes)


def baseline_window(baseline_days: int) -> dict:
    end = FIRST_DAY + pd.Timedelta(days=baseline_days)
    return {"start": f"{FIRST_DAY:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}"}


def training_request(code: str, baseline_days: int) -> RunRequest:
    return RunRequest("training", {"dagster/partition": code}, {"ops": {"baseline": {"config": baseline_window(baseline_days)}}})


def scoring_request(first_code: str, last_code: str, first_day: str, last_day: str) -> RunRequest:
    """One run over the box [first_code .. last_code] x [first_day .. last_day] (fleet order, then days)."""
    first, last = dt.date.fromisoformat(first_day), dt.date.fromisoformat(last_day)
    start, end = scoring_partition_key(first_code, first), scoring_partition_key(last_code, last)
    return RunRequest("scoring", {RANGE_START_TAG: str(start), RANGE_END_TAG: str(end)}, scoring_days(first, last))


@dataclass(frozen=True)
class RunRequest:
    job: str
    tags: Mapping[str, str]
    run_config: Mapping | None


@dataclass
class FleetPlan:
    codes: list[str]
    baseline_days: int
    days: int
    concurrent_runs: int
    equipment_per_scoring_run: int = 0

    def training(self) -> list[RunRequest]:
        return [training_request(code, self.baseline_days) for code in self.codes]

    def scoring(self, trained: list[str] | None = None) -> list[RunRequest]:
        """Runs over the `trained` equipment (default: all), never across an untrained one: a run holding an
        equipment without a complete model version would fail as a whole (its models cannot load)."""
        per_run = self.equipment_per_scoring_run or -(-len(self.codes) // max(self.concurrent_runs, 1))
        first = FIRST_DAY + pd.Timedelta(days=self.baseline_days)
        last = first + pd.Timedelta(days=self.days - 1)
        included = set(self.codes if trained is None else trained)
        segments = [list(group) for kept, group in itertools.groupby(self.codes, key=included.__contains__) if kept]
        batches = [s[i : i + per_run] for s in segments for i in range(0, len(s), per_run)]
        return [scoring_request(b[0], b[-1], f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}") for b in batches]


# ---------------------------------------------------------------- executing runs


def execute_request(location_module: str, request: RunRequest) -> tuple[str, str | None]:
    """One run through Dagster's real execution in this process, on the instance of $DAGSTER_HOME:
    (run id, None) on success, else (run id, the first failure message)."""
    repository = ReconstructableRepository.for_module(location_module, "defs", working_directory=os.getcwd())
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            repository.get_reconstructable_job(request.job),
            instance=instance,
            tags=dict(request.tags),
            run_config=dict(request.run_config) if request.run_config else None,
        )
        return result.run_id, None if result.success else failure_message(instance, result.run_id)


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    """What the UI shows first for a failed run: the first step failure, else the run failure."""
    records = instance.get_records_for_run(run_id).records
    events = [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]
    for event in events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            return f"{event.step_key}: {error.message.strip() if error else 'failed'}"
    failures = [e.message for e in events if e.event_type == dg.DagsterEventType.RUN_FAILURE]
    return failures[0] if failures else "run did not succeed"


def execute_all(
    location_module: str, requests: list[RunRequest], concurrent_runs: int, env: Mapping[str, str]
) -> list[tuple[str, str | None]]:
    """Runs `concurrent_runs` at a time, each in its own fresh process (like a run launcher would)."""
    with _environment(env):
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=concurrent_runs, mp_context=context) as pool:
            futures = [pool.submit(execute_request, location_module, r) for r in requests]
            return [f.result() for f in futures]


def run_profile(profile: str, plan: FleetPlan, env: Mapping[str, str], tmp: Path, workers: int) -> dict:
    result: dict = {"executor": profile}
    with contextlib.ExitStack() as stack:
        if profile == "celery":
            started = time.perf_counter()
            stack.enter_context(CeleryWorkers(env, tmp / f"celery-{uuid.uuid4().hex[:6]}", count=workers))
            result["workers"] = workers
            result["worker_start_seconds"] = round(time.perf_counter() - started, 2)
        trained = _run_phase(result, "training", plan.training(), len(plan.codes), plan.concurrent_runs, env)
        codes = [code for code, (_, error) in zip(plan.codes, trained, strict=True) if error is None]
        result["equipment_not_scored"] = {
            code: error for code, (_, error) in zip(plan.codes, trained, strict=True) if error is not None
        }
        _run_phase(result, "scoring", plan.scoring(codes), len(codes) * plan.days, plan.concurrent_runs, env)
    result["total_wall_seconds"] = round(result["training"]["wall_seconds"] + result["scoring"]["wall_seconds"], 2)
    return result


def _run_phase(result: dict, phase: str, requests: list[RunRequest], units: int, concurrent_runs: int,
               env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    started = time.perf_counter()
    outcomes = execute_all(__name__, requests, concurrent_runs, env)
    wall = time.perf_counter() - started
    result[phase] = {
        "wall_seconds": round(wall, 2),
        "runs_launched": len(outcomes),
        "runs_failed": sum(error is not None for _, error in outcomes),
        "failures": sorted({error for _, error in outcomes if error})[:3],
        "units": units,  # training: equipment; scoring: equipment days
        "seconds_per_unit": round(wall / max(units, 1), 4),
    }
    return outcomes


# ---------------------------------------------------------------- what the work costs without Dagster


def _direct_costs(url: str, code: str, baseline_days: int, days: int) -> dict:
    """One equipment's fits and its scored days called directly: the floor under every profile."""
    engine = create_engine(url)
    historian = HistorianStore(engine)
    window = baseline_window(baseline_days)
    started = time.perf_counter()
    frame = historian.read_window(code, pd.Timestamp(window["start"], tz="UTC"), pd.Timestamp(window["end"], tz="UTC")).frame
    ensemble = DetectorEnsemble(ENSEMBLE_CONFIG).fit(frame)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    first = pd.Timestamp(window["end"], tz="UTC")
    scored = historian.read_window(code, first, first + pd.Timedelta(days=days), drop_constant=False).frame
    ensemble.score_with_state(scored)
    score = time.perf_counter() - started
    engine.dispose()
    return {"training_seconds_per_equipment": round(fit, 3), "scoring_seconds_per_day": round(score / days, 4)}


def _estimate(report: dict) -> dict:
    """1,000 equipment on W workers: measured core-seconds per equipment (training) or equipment day (scoring) x
    their number / W (no queueing,
    no database contention: a lower bound to check against a real cluster)."""
    measured = {name: p for name, p in report["profiles"].items()}
    if not measured:
        return {}
    best = min(measured, key=lambda name: measured[name]["total_wall_seconds"])
    profile = measured[best]
    cores = report["concurrent_runs"] if best != "celery" else profile.get("workers", 1)
    train = profile["training"]["wall_seconds"] * cores / profile["training"]["units"]
    score = profile["scoring"]["wall_seconds"] * cores / profile["scoring"]["units"]
    days = report["days"]
    return {
        "from_profile": best,
        "core_seconds_per_equipment_trained": round(train, 3),
        "core_seconds_per_equipment_day_scored": round(score, 4),
        **{
            f"{workers}_workers": {
                "train_all_seconds": round(1000 * train / workers, 1),
                f"score_{days}_days_seconds": round(1000 * days * score / workers, 1),
                "score_one_day_seconds": round(1000 * score / workers, 1),
            }
            for workers in (2, 16, 64)
        },
    }


# ---------------------------------------------------------------- Celery workers and the environment


class CeleryWorkers:
    """`dagster-celery worker start` processes (one task at a time each) for a code location; stopped by pid.

    Each worker is three processes: the dagster-celery CLI, the `celery worker` it runs, and that worker's
    pool process, which executes the steps. They listen on `$ACM_CELERY_QUEUE` of `env` (default `dagster`);
    a queue named `acm-...` is deleted from the broker on stop (it was made for these workers)."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, count: int = 2,
                 config_yaml: Path = DEPLOY_DIR / "celery.yaml", ready_timeout: float = 120.0):
        self.env = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.log_dir, self.count, self.config_yaml, self.ready_timeout = log_dir, count, config_yaml, ready_timeout
        self.queue = self.env.get(CELERY_QUEUE_ENV) or "dagster"
        self.workers: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> CeleryWorkers:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for i in range(1, self.count + 1):
                self.start(f"acm-{uuid.uuid4().hex[:6]}-{i}")
            for name in self.workers:
                self.wait_ready(name)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, name: str) -> subprocess.Popen:
        command = [
            str(Path(sys.executable).parent / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
            "-y", str(self.config_yaml), "-n", name, "-q", self.queue, "--",
            "--concurrency", "1", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
        with open(self.log_dir / f"{name}.log", "wb") as log:
            process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd())
        self.workers[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while f"{name}@" not in self.log(name) or " ready." not in self.log(name):
            if self.workers[name].poll() is not None:
                raise RuntimeError(f"Celery worker {name} exited with {self.workers[name].returncode}:\n{self.log(name)[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker {name} not ready after {self.ready_timeout:.0f} s:\n{self.log(name)[-2000:]}")
            time.sleep(0.2)

    def pool_pids(self, name: str) -> list[int]:
        """The pool process(es) of a worker: the ones running steps."""
        celery = children(self.workers[name].pid)
        return [pid for parent in celery for pid in children(parent)]

    def pids(self) -> list[int]:
        return [pid for process in self.workers.values() for pid in (process.pid, *descendants(process.pid))]

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every process started here, then SIGKILL whatever is left; each one by its pid."""
        pids = self.pids()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            for process in self.workers.values():
                process.poll()
            time.sleep(0.2)
        for pid in pids:
            if alive(pid):
                _signal(pid, signal.SIGKILL)
        for process in self.workers.values():
            process.wait(timeout=timeout)
        if self.queue.startswith("acm-"):
            with Connection(self.env[CELERY_BROKER_ENV], connect_timeout=5) as connection:
                connection.default_channel.queue_delete(self.queue)


def children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
    return found


def descendants(pid: int) -> list[int]:
    return [d for child in children(pid) for d in (child, *descendants(child))]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _databases(tmp: Path, postgres: str | None) -> Iterator[tuple[str, dict[str, str]]]:
    """(ACM database URL, environment of a Dagster instance) on SQLite files, or on one fresh PostgreSQL
    database holding both (the instance loads deploy/dagster.yaml)."""
    home = tmp / "dagster_home"
    home.mkdir()
    if postgres is None:
        yield f"sqlite:///{tmp / 'acm.db'}", {"DAGSTER_HOME": str(home)}
        return
    with fresh_postgres_database(postgres) as url:
        (home / "dagster.yaml").write_text((DEPLOY_DIR / "dagster.yaml").read_text())
        yield url, {"DAGSTER_HOME": str(home), **postgres_instance_env(url)}


@contextlib.contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    name = f"acm_fleet_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def postgres_instance_env(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads, for the database of `url`."""
    parsed = sa.engine.make_url(url)
    return {
        "DAGSTER_PG_HOST": parsed.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parsed.port or 5432),
        "DAGSTER_PG_USERNAME": parsed.username or "postgres",
        "DAGSTER_PG_PASSWORD": parsed.password or "",
        "DAGSTER_PG_DB": parsed.database,
    }

