"""Pipeline: one equipment's training run through Dagster vs the same fits called directly, and a 365-day
scoring backfill of one equipment in one run.

Each profile runs on a real DagsterInstance in a scratch DAGSTER_HOME and a scratch ACM database, deleted
afterwards (the operator's own instance and database are never touched):
- `embedded`: what `dagster dev` and `acm demo` use: SQLite files for the ACM tables and Dagster's storage.
- `postgresql`: the production shape: ACM tables and Dagster's storage (dagster-postgres) in scratch databases
  on the server named by `--postgres-url`.
The history is simulated FD_FAN data: a fault-free training window first, then the scored year with the
simulator's default faults. The training run is the code location's own `training` job (in-process executor);
the direct floor is `DetectorEnsemble.fit` on the same baseline frame. The backfill is the `scoring` job over a
partition key range: the one run `BackfillPolicy.single_run` makes of a backfill.

Launched runs (embedded profile; skippable, a few minutes on a busy machine) go through the instance's run
launcher as the UI, a schedule or a sensor launch them (`dagster job launch`: a fresh run-worker process loads
the code location): once with the code location's in-process executor, once with Dagster's default
multiprocess executor (a process per step). That comparison is why the code location runs in-process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from acm_assets.assets.scoring import DayScorer, ScoredDay, scoring_days, write_days
from acm_assets.bench.registry import _scratch_postgres
from acm_assets.database import DATABASE_URL_ENV, create_engine
from acm_assets.definitions import defs
from acm_assets.detectors import DetectorEnsemble
from acm_assets.ingest.historian import HistorianStore
from acm_assets.simulation.simulator import simulate
from acm_assets.jobs import training_job
from acm_assets.partitions import calendar, equipment_partitions, month_of, scoring_partition_key
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.schema import create_registry_table
from acm_assets.registry.store import ModelStore
from acm_assets.resources import AcmDatabase
from acm_assets.settings import ENSEMBLE_CONFIG

EQUIPMENT = "FD_FAN"
CADENCE = "10min"
SEED = 11
TRAINING_TARGET_S = 6.0
BACKFILL_TARGET_S = 60.0
LAUNCH_TIMEOUT_S = 900
# The code location with Dagster's default executor instead of in-process: only for the launched comparison.
multiprocess_defs = dg.Definitions(
    assets=defs.assets, jobs=[training_job], resources=defs.resources, executor=dg.multiprocess_executor
)
# No daemon here: a launched run starts at once instead of waiting in the queue.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""
# dagster-postgres needs psycopg2 (see deploy/dagster.yaml); the URL is a scratch database on a test server.
POSTGRES_STORAGE_YAML = """\
storage:
  postgres:
    postgres_url: "{url}"
"""


def add_arguments(parser) -> None:
    parser.add_argument("--train-days", type=int, default=60, help="fault-free baseline window (days)")
    parser.add_argument("--score-days", type=int, default=365, help="days scored by the one backfill run")
    parser.add_argument("--repeats", type=int, default=3, help="training runs and direct fits timed (median)")
    parser.add_argument(
        "--skip-launched", action="store_true", help="skip the two launched runs (subprocesses, minutes when busy)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ACM_TEST_POSTGRES_URL"),
        help="server URL for the postgresql profile; scratch databases are created and dropped "
        "(default: $ACM_TEST_POSTGRES_URL)",
    )


def run(args) -> dict:
    if args.train_days < 1 or args.score_days < 1 or args.repeats < 1:
        raise ValueError(
            "--train-days, --score-days and --repeats must be at least 1, "
            f"got {args.train_days}, {args.score_days} and {args.repeats}"
        )
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the box slows every number here
            "sqlite_commit_ms": _sqlite_commit_ms(),  # Dagster's embedded storage pays this per event
            "python": platform.python_version(),
            "dagster": dg.__version__,
        },
        "equipment": EQUIPMENT,
        "targets": {"training_run_s": TRAINING_TARGET_S, "backfill_365_days_s": BACKFILL_TARGET_S},
    }
    with _embedded() as storage:
        result["embedded"] = _profile(args, *storage, launched=not args.skip_launched)
    if args.postgres_url:
        with _postgresql(args.postgres_url) as storage:
            result["postgresql"] = _profile(args, *storage, launched=False)
    else:
        result["postgresql"] = "skipped: no --postgres-url and no $ACM_TEST_POSTGRES_URL"
    return result


@contextlib.contextmanager
def _embedded() -> Iterator[tuple[Path, str, str]]:
    with tempfile.TemporaryDirectory(prefix="acm_bench_pipeline_") as scratch:
        yield Path(scratch), f"sqlite:///{Path(scratch) / 'acm.db'}", INSTANCE_YAML


@contextlib.contextmanager
def _postgresql(server_url: str) -> Iterator[tuple[Path, str, str]]:
    if importlib.util.find_spec("dagster_postgres") is None:
        raise RuntimeError(
            "the postgresql profile keeps Dagster's storage in PostgreSQL: it needs dagster-postgres "
            "(pip install dagster-postgres, the release paired with dagster " + dg.__version__ + ")"
        )
    acm_url, drop_acm = _scratch_postgres(server_url)
    try:
        dagster_url, drop_dagster = _scratch_postgres(server_url)
        try:
            storage_url = sa.make_url(dagster_url).set(drivername="postgresql+psycopg2")
            instance_yaml = INSTANCE_YAML + POSTGRES_STORAGE_YAML.format(
                url=storage_url.render_as_string(hide_password=False)
            )
            with tempfile.TemporaryDirectory(prefix="acm_bench_pipeline_") as scratch:
                yield Path(scratch), acm_url, instance_yaml
        finally:
            drop_dagster()
    finally:
        drop_acm()


def _profile(args, scratch: Path, database_url: str, instance_yaml: str, *, launched: bool) -> dict:
    bench = _Bench(scratch, database_url, instance_yaml, train_days=args.train_days, score_days=args.score_days)
    with bench.scratch_instance():
        profile = {
            "history": bench.fill_history(),
            "training": bench.training(args.repeats),
            "scoring_backfill": bench.scoring_backfill(),
        }
        profile["launched_training_runs"] = bench.launched_runs() if launched else "skipped"
    return profile


class _Bench:
    def __init__(self, scratch: Path, database_url: str, instance_yaml: str, *, train_days: int, score_days: int):
        self.acm_home, self.dagster_home = scratch / "acm_home", scratch / "dagster_home"
        self.acm_home.mkdir()
        self.dagster_home.mkdir()
        (self.dagster_home / "dagster.yaml").write_text(instance_yaml)
        self.database_url = database_url
        # Scoring starts at the code location's first day; the history starts there too.
        self.start = pd.Timestamp(calendar.first_day)
        self.train_end = self.start + pd.Timedelta(days=train_days)
        self.score_days = pd.date_range(self.train_end, periods=score_days, freq="D")
        window = {"start": f"{self.start:%Y-%m-%d}", "end": f"{self.train_end:%Y-%m-%d}"}
        self.run_config = {"ops": {"baseline": {"config": window}}}

    @contextlib.contextmanager
    def scratch_instance(self) -> Iterator[None]:
        """The code location finds its database and instance in the environment: point both at the scratch."""
        environment = {
            "ACM_HOME": str(self.acm_home),
            DATABASE_URL_ENV: self.database_url,
            "DAGSTER_HOME": str(self.dagster_home),
        }
        with mock.patch.dict(os.environ, environment), dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(equipment_partitions.name, [EQUIPMENT])
            self.instance = instance
            yield

    def fill_history(self) -> dict:
        started = time.perf_counter()
        days = (self.score_days[-1] + pd.Timedelta(days=1) - self.start).days
        simulation = simulate(
            EQUIPMENT, start=self.start, days=days, cadence=CADENCE, seed=SEED, faults_after=self.train_end
        )
        engine = create_engine(self.database_url)
        self.historian = HistorianStore(engine)
        self.historian.create_tables()
        create_registry_table(engine)
        equipment = self.historian.add_equipment(EQUIPMENT, equip_type=EQUIPMENT, tags=simulation.tag_info)
        self.equipment = Equipment(equipment.equip_id, EQUIPMENT)
        written = self.historian.write_frame(EQUIPMENT, simulation.frame, tags=simulation.tag_info)
        return {
            "days": days,
            "points": written.points,
            "tags": simulation.frame.shape[1],
            "cadence": CADENCE,
            "injected_faults": len(simulation.faults),
            "fill_s": _seconds(time.perf_counter() - started),
        }

    def training(self, repeats: int) -> dict:
        job = defs.resolve_job_def("training")
        dagster_s, direct_s, read_s = [], [], []
        for _ in range(repeats):
            started = time.perf_counter()
            result = job.execute_in_process(
                instance=self.instance, partition_key=EQUIPMENT, run_config=self.run_config, raise_on_error=False
            )
            dagster_s.append(time.perf_counter() - started)
            _check_success(result, "training run")
        window = (self.start.tz_localize("UTC"), self.train_end.tz_localize("UTC"))
        for _ in range(repeats):
            started = time.perf_counter()
            baseline = self.historian.read_window(EQUIPMENT, *window).frame
            read_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            DetectorEnsemble(ENSEMBLE_CONFIG).fit(baseline)
            direct_s.append(time.perf_counter() - started)
        run_s, fit_s, baseline_read_s = (statistics.median(s) for s in (dagster_s, direct_s, read_s))
        return {
            "baseline_rows": len(baseline),
            "baseline_tags": baseline.shape[1],
            "dagster_run_s": _seconds(run_s),
            "dagster_run_samples_s": [_seconds(s) for s in dagster_s],
            "direct_fit_s": _seconds(fit_s),
            "direct_fit_samples_s": [_seconds(s) for s in direct_s],
            "baseline_read_s": _seconds(baseline_read_s),
            "overhead_ratio": round(run_s / fit_s, 2),
            "overhead_s": _seconds(run_s - fit_s - baseline_read_s),
            "model_version": ModelStore(self.historian.engine).latest_version(self.equipment),
            "within_target": run_s <= TRAINING_TARGET_S,
        }

    def scoring_backfill(self) -> dict:
        first, last = (
            str(scoring_partition_key(EQUIPMENT, day.date()))
            for day in (self.score_days[0], self.score_days[-1])
        )
        started, started_at = time.perf_counter(), time.time()
        result = defs.resolve_job_def("scoring").execute_in_process(
            instance=self.instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
            run_config=scoring_days(self.score_days[0].date(), self.score_days[-1].date()),
            raise_on_error=False,
        )
        wall = time.perf_counter() - started
        _check_success(result, "scoring backfill run")
        events = self.instance.all_logs(result.run_id)
        run_started = next(e.timestamp for e in events if e.dagster_event_type == dg.DagsterEventType.RUN_START)
        rows = _scored_rows(self.historian.engine, self.equipment.equip_id)
        return {
            "days": len(self.score_days),
            "first_day": f"{self.score_days[0]:%Y-%m-%d}",
            "last_day": f"{self.score_days[-1]:%Y-%m-%d}",
            "runs": 1,
            "run_id": result.run_id,
            "wall_s": _seconds(wall),
            # Creating the run stores a "materialization planned" event per partition and output.
            "run_creation_s": _seconds(run_started - started_at),
            "direct_score_s": _seconds(self._direct_scoring()),
            # The asset's own day-by-day reads, scoring and writes without Dagster: what the run adds beyond
            # this is Dagster's.
            "day_by_day_without_dagster_s": _seconds(self._day_by_day()),
            "per_day_ms": round(wall / len(self.score_days) * 1000, 1),
            "dagster_events": len(events),
            "score_rows": rows["scores"],
            "scored_days": rows["days"],
            "episodes": rows["episodes"],
            "target_s": round(BACKFILL_TARGET_S * len(self.score_days) / 365, 1),  # 60 s for 365 days
            "within_target": wall <= BACKFILL_TARGET_S * len(self.score_days) / 365,
        }

    def _day_by_day(self) -> float:
        """The scoring asset's loop called directly: each month's days read and cleaned one by one and scored
        in one call, its writes a month at a time as the asset's (it rewrites the run's rows with equal values)."""
        database = AcmDatabase(database_url=self.database_url)
        models = ModelStore(self.historian.engine).load_version(self.equipment)
        started = time.perf_counter()
        ensemble = DetectorEnsemble.from_models({t: m.value for t, m in models.items()}, ENSEMBLE_CONFIG)
        days = [day.date() for day in self.score_days]
        version = next(iter(models.values())).version
        scorer = DayScorer(database, ensemble, EQUIPMENT, version, "day-by-day", last_day=days[-1])
        for _, month_days in itertools.groupby(days, key=month_of):
            scored, states = [], {}
            for day, outcome in scorer.score_days(list(month_days)):
                if isinstance(outcome, Exception):
                    raise RuntimeError(f"the day-by-day loop failed to score {day}") from outcome
                scores, episodes, states[day] = outcome
                scored.append(ScoredDay(day, scores, episodes))
            if unwritten := write_days(database, scorer, scored, states):
                raise RuntimeError(f"the day-by-day loop failed to write {unwritten}")
        elapsed = time.perf_counter() - started
        database.historian.engine.dispose()
        return elapsed

    def _direct_scoring(self) -> float:
        """The floor: the same models scoring the same days in one call, episodes included, nothing written."""
        models = ModelStore(self.historian.engine).load_version(self.equipment)
        started = time.perf_counter()
        ensemble = DetectorEnsemble.from_models({t: m.value for t, m in models.items()}, ENSEMBLE_CONFIG)
        first = self.score_days[0].tz_localize("UTC")
        end = first + pd.Timedelta(days=len(self.score_days))
        frame = self.historian.read_window(EQUIPMENT, first - pd.Timedelta(days=1), end, drop_constant=False).frame
        warm_up, scored = frame[frame.index < first], frame[frame.index >= first]
        scores, _ = ensemble.score_with_state(scored, ensemble.score_with_state(warm_up)[1])
        ensemble.episodes(scores)
        return time.perf_counter() - started

    def launched_runs(self) -> dict:
        return {
            "in_process": self._launch(["-m", "acm_assets.definitions"]),
            "multiprocess": self._launch(["-m", "acm_assets.bench.pipeline", "-a", "multiprocess_defs"]),
        }

    def _launch(self, target: list[str]) -> dict:
        """`dagster job launch` (the instance's run launcher), then wait for the run worker to finish it."""
        run_id = str(uuid.uuid4())
        command = [
            str(Path(sys.executable).with_name("dagster")), "job", "launch", *target, "-j", "training",
            "--run-id", run_id, "--tags", json.dumps({"dagster/partition": EQUIPMENT}),
            "--config-json", json.dumps(self.run_config),
        ]  # fmt: skip
        started = time.perf_counter()
        # The command returns once its ephemeral code server has seen the run finish; poll to be sure.
        launch = subprocess.run(command, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
        if launch.returncode:
            raise RuntimeError(f"dagster job launch {' '.join(target)} failed: {launch.stderr[-2000:]}")
        deadline = time.perf_counter() + LAUNCH_TIMEOUT_S
        while (record := self.instance.get_run_record_by_id(run_id)) is None or not record.dagster_run.is_finished:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"launched run {run_id} did not finish within {LAUNCH_TIMEOUT_S} s")
            time.sleep(0.2)
        finished = time.perf_counter()
        if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
            raise RuntimeError(f"launched run {run_id} ended {record.dagster_run.status.value}")
        return {
            "wall_s": _seconds(finished - started),
            "run_worker_s": _seconds(record.end_time - record.start_time),
        }


def _check_success(result: dg.ExecuteInProcessResult, what: str) -> None:
    if not result.success:
        failures = [event.message for event in result.all_events if event.is_failure]
        raise RuntimeError(f"{what} {result.run_id} failed: {failures}")


def _scored_rows(engine: sa.Engine, equip_id: int) -> dict:
    with engine.connect() as conn:
        scores, days = conn.execute(
            sa.text('SELECT COUNT(*), COUNT(DISTINCT "Day") FROM "ACM_Scores_Wide" WHERE "EquipID" = :e'),
            {"e": equip_id},
        ).one()
        episodes = conn.execute(
            sa.text('SELECT COUNT(DISTINCT "EpisodeID") FROM "ACM_Episodes" WHERE "EquipID" = :e'), {"e": equip_id}
        ).scalar_one()
    return {"scores": scores, "days": days, "episodes": episodes}


def _sqlite_commit_ms(commits: int = 50) -> float:
    """One durable SQLite commit in the temp directory (where the scratch instance lives), in milliseconds."""
    with tempfile.TemporaryDirectory() as scratch:
        conn = sqlite3.connect(Path(scratch) / "commit.db")
        try:
            conn.execute("CREATE TABLE t (x INTEGER)")
            started = time.perf_counter()
            for i in range(commits):
                conn.execute("INSERT INTO t VALUES (?)", (i,))
                conn.commit()
            return round((time.perf_counter() - started) / commits * 1000, 2)
        finally:
            conn.close()


def _seconds(value: float) -> float:
    return round(value, 3)
