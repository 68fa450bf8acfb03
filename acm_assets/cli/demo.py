"""`acm demo`: simulated history in the embedded database, then training and scoring through Dagster runs.

The terminal gets one line per step, a progress bar per run and a summary at the end; Dagster's own log of
every run goes to a file whose path is printed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
from tqdm import tqdm

from acm_assets.assets.scoring import progress_log, scoring_days
from acm_assets.cli import CliError
from acm_assets.cli.historian import add_database_option, open_store
from acm_assets.database import acm_home, create_engine, default_database_url, redact
from acm_assets.definitions import EMAIL_TO_ENV, SMTP_URL_ENV, WEBHOOK_URL_ENV, build_definitions
from acm_assets.notifications.changes import Told
from acm_assets.notifications.tick import notify
from acm_assets.outputs.triage import episode_key, record_decision
from acm_assets.outputs.schema import episodes_table
from acm_assets.partitions import FIRST_DAY_ENV, LAST_DAY_ENV, scoring_partition_key
from acm_assets.registry.schema import create_registry_table
from acm_assets.resources import NotificationTargets
from acm_assets.sensors import NOTIFY_ENV_HINT
from acm_assets.settings import ENSEMBLE_CONFIG
from acm_assets.simulation.demo_data import DemoLoad, load_demo_history

BASELINE_DAYS = 60
# Scored days after training; beyond a month the seasons move on and operators retrain (weekly schedule).
SCORED_DAYS = 30
LOG_NAME = "demo.log"
# The demo instance: no telemetry, and run monitoring so a run whose process died is marked failed (the
# daemon of `dagster dev` does it) instead of staying STARTED, which would block re-execution.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 60
"""


def register(commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="simulate FD_FAN, COND_PUMP and GAS_TURBINE, train and score them through Dagster, show the episodes",
    )
    add_database_option(demo)
    demo.set_defaults(handler=_demo)


def _demo(args) -> int:
    url = args.database_url or default_database_url()
    print(f"database: {redact(url)}")
    with open_store(url) as store:
        loads = load_demo_history(store)
    for load in loads:
        _print_load(load)
    create_registry_table(create_engine(url))
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(acm_home() / "dagster")))
    _prepare_instance(dagster_home)
    log_path = acm_home() / LOG_NAME
    print(f"Dagster instance: {dagster_home}; the runs' full log: {log_path}")
    with _logging_to(log_path) as handler, dg.DagsterInstance.get() as instance:
        results = _train_and_score(instance, url, loads, handler)
        _print_summary(url, loads, results)
        # triaged before the page is written, so the page shows the decisions
        _triage_and_notify(url, loads)
        page = _fleet_page(instance, url, handler)
    print(f"\nFleet health page (open it in a browser): {page}")
    first, last = _data_days(loads)
    print()
    print("Open the Dagster UI on these runs and tables (day partitions set to the demo's data):")
    print(f"  DAGSTER_HOME={dagster_home} ACM_DATABASE_URL={redact(url)} {FIRST_DAY_ENV}={first} "
          f"{LAST_DAY_ENV}={last} dagster dev -w workspace.yaml")
    return 0


def _prepare_instance(dagster_home: Path) -> None:
    """Create the instance directory, with the demo's dagster.yaml unless one is there already."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)


@contextmanager
def _logging_to(path: Path):
    """Python warnings and Dagster's run logs go to `path` (rewritten per demo), not to the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    # Append mode: Dagster closes its loggers' handlers after each run, and an appending handler reopens.
    handler = logging.FileHandler(path, mode="a", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield handler
    finally:
        logging.captureWarnings(False)
        warnings_logger.removeHandler(handler)
        handler.close()


class _Progress(logging.Handler):
    """Advances a bar on the Dagster events that mark progress (a finished step)."""

    def __init__(self, bar: tqdm, event_type: str):
        super().__init__()
        self.bar, self.event_type = bar, event_type

    def emit(self, record: logging.LogRecord) -> None:
        # Dagster hands its loggers each event's record with the event itself under `dagster_meta`.
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is not None and event.event_type_value == self.event_type:
            self.bar.update(1)


class _EachRecord(logging.Handler):
    """Advances a bar on every record (the scoring asset's one per scored day)."""

    def __init__(self, bar: tqdm):
        super().__init__(level=logging.DEBUG)
        self.bar = bar

    def emit(self, record: logging.LogRecord) -> None:
        self.bar.update(1)


@contextmanager
def _counting_scored_days(bar: tqdm):
    handler, level = _EachRecord(bar), progress_log.level
    progress_log.addHandler(handler)
    progress_log.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        progress_log.removeHandler(handler)
        progress_log.setLevel(level)


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, file_handler: logging.Handler, bar: tqdm,
         progress: logging.Handler | None = None, run_config: dict | None = None, **kwargs) -> dg.ExecuteInProcessResult:
    """One run whose Dagster log goes to the demo log file (and to `progress`, when given), not the console."""
    logger = logging.Logger(f"acm.demo.{job.name}", level=logging.DEBUG)
    logger.addHandler(file_handler)
    if progress is not None:
        logger.addHandler(progress)
    logged = job.with_logger_defs({"demo": dg.LoggerDefinition(lambda _: logger)})
    with bar:
        return logged.execute_in_process(
            instance=instance, run_config={"loggers": {"demo": {}}, **(run_config or {})}, raise_on_error=False,
            **kwargs,
        )


def _train_and_score(instance: dg.DagsterInstance, url: str, loads: list[DemoLoad], file_handler) -> dict:
    """One training run and one scoring run (all scored days of the equipment) per equipment."""
    definitions = build_definitions(url)
    training, scoring = definitions.resolve_job_def("training"), definitions.resolve_job_def("scoring")
    codes = [load.equipment.code for load in loads]
    instance.add_dynamic_partitions("equipment", [c for c in codes if not instance.has_dynamic_partition("equipment", c)])
    results = {}
    for load in loads:
        code = load.equipment.code
        train_start, train_end, last_day = _windows(load)
        print(f"{code}: training on {train_start:%Y-%m-%d} .. {train_end - pd.Timedelta(days=1):%Y-%m-%d} "
              f"({BASELINE_DAYS} fault-free days)")
        bar = _bar(f"{code} training", len(training.graph.nodes), "step")
        trained = _run(
            training, instance, file_handler, bar, _Progress(bar, "STEP_SUCCESS"),
            partition_key=code,
            run_config={"ops": {"baseline": {"config": {"start": f"{train_start:%Y-%m-%d}", "end": f"{train_end:%Y-%m-%d}"}}}},
        )
        _require_success(trained, code, "training")
        print(f"{code}: scoring {train_end:%Y-%m-%d} .. {last_day:%Y-%m-%d}")
        first, last = (scoring_partition_key(code, day.date()) for day in (train_end, last_day))
        bar = _bar(f"{code} scoring", (last_day - train_end).days + 1, "day")
        with _counting_scored_days(bar):
            scored = _run(
                scoring, instance, file_handler, bar,
                tags={"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)},
                run_config=scoring_days(train_end.date(), last_day.date()),
            )
        _require_success(scored, code, "scoring")
        results[code] = (trained, scored)
    return results


def _fleet_page(instance: dg.DagsterInstance, url: str, file_handler) -> str:
    """The fleet health page of the scored days, materialized as its daily schedule does; its path."""
    job = build_definitions(url).resolve_job_def("fleet_page")
    bar = _bar("fleet page", 1, "page")
    result = _run(job, instance, file_handler, bar, _Progress(bar, "STEP_SUCCESS"))
    _require_success(result, "fleet", "fleet page")
    return result.asset_materializations_for_node("fleet_health_page")[0].metadata["path"].value


def _bar(label: str, total: int, unit: str) -> tqdm:
    return tqdm(total=total, desc=label, unit=unit, file=sys.stderr, leave=True, dynamic_ncols=True)


def _require_success(result: dg.ExecuteInProcessResult, code: str, what: str) -> None:
    if not result.success:
        raise CliError(f"{code}: the {what} run {result.run_id} failed; its log is in {acm_home() / LOG_NAME}")


def _windows(load: DemoLoad) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """Baseline [start, end): the days before the first injected fault; then the scored days up to `last`."""
    simulation = load.simulation
    train_end = simulation.faults["start"].min().floor("D")
    last_day = min(simulation.frame.index[-1].floor("D"), train_end + pd.Timedelta(days=SCORED_DAYS - 1))
    return train_end - pd.Timedelta(days=BASELINE_DAYS), train_end, last_day


def _data_days(loads: list[DemoLoad]) -> tuple[str, str]:
    first = min(load.simulation.frame.index[0] for load in loads)
    last = max(load.simulation.frame.index[-1] for load in loads)
    return f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}"


def _print_summary(url: str, loads: list[DemoLoad], results: dict) -> None:
    print()
    print("Summary")
    for load in loads:
        code = load.equipment.code
        trained, scored = results[code]
        evaluations = trained.get_asset_check_evaluations() + scored.get_asset_check_evaluations()
        totals = Counter(e.check_name for e in evaluations)
        passed = Counter(e.check_name for e in evaluations if e.passed)
        checks = ", ".join(f"{name} {passed[name]}/{n}" for name, n in sorted(totals.items()))
        print(f"{code}: checks passed {checks} (training run {trained.run_id[:8]}, scoring run {scored.run_id[:8]})")
        for name in sorted(totals):
            failed = [e for e in evaluations if e.check_name == name and not e.passed]
            if failed:
                partitions = ", ".join(str(e.partition) for e in failed)
                print(f"  {name} did not pass on {len(failed)}: {partitions} ({failed[0].description})")
        _print_episodes_beside_faults(url, load)


def _print_episodes_beside_faults(url: str, load: DemoLoad) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        episodes = pd.read_sql(
            episodes_table.select().where(episodes_table.c.EquipID == load.equipment.equip_id), conn
        )
    engine.dispose()
    episodes["StartTime"] = pd.to_datetime(episodes["StartTime"]).dt.tz_localize("UTC")
    episodes["EndTime"] = pd.to_datetime(episodes["EndTime"]).dt.tz_localize("UTC")
    matched = set()
    print(f"  {'injected fault':<47} {'caught by episode':<18} {'delay':<16} {'peak z':>6}  culprits")
    for fault in load.simulation.faults.itertuples():
        hits = episodes[(episodes["StartTime"] <= fault.end) & (episodes["EndTime"] >= fault.start)]
        matched.update(hits["EpisodeID"])
        label = f"{fault.type} {fault.start:%m-%d %H:%M} .. {fault.end:%m-%d %H:%M}"
        if hits.empty:
            print(f"  {label:<47} MISSED")
            continue
        first = hits.iloc[0]
        delay = human_duration(max(first["StartTime"] - fault.start, pd.Timedelta(0)))
        print(f"  {label:<47} {first['StartTime']:%m-%d %H:%M}{'':<7} {delay:<16} {first['PeakZ']:>6.1f}  "
              f"{first['Culprits']}")
    others = episodes[~episodes["EpisodeID"].isin(matched)]
    print(f"  false episodes (outside every injected fault): {len(others)}")
    for episode in others.itertuples():
        print(f"    {episode.StartTime:%m-%d %H:%M} .. {episode.EndTime:%m-%d %H:%M}  peak z {episode.PeakZ:.1f}  "
              f"{episode.Culprits}")


def human_duration(delta: pd.Timedelta) -> str:
    """`1 d 18 h 40 min`, `4 h`, `40 min`, `0 min`."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts) or "0 min"


def _print_load(load: DemoLoad) -> None:
    sim, result, equipment = load.simulation, load.result, load.equipment
    index = sim.frame.index
    running = (sim.state == "running").mean()
    print(
        f"{equipment.code} (EquipID {equipment.equip_id}): {len(index)} rows x {sim.frame.shape[1]} tags, "
        f"{index[0]:%Y-%m-%d %H:%M} .. {index[-1]:%Y-%m-%d %H:%M} UTC, running {running:.0%} of the time; "
        f"points {result.inserted} inserted, {result.unchanged} unchanged, {result.updated} updated"
    )


def _triage_and_notify(url: str, loads: list[DemoLoad]) -> None:
    """The demo plays the engineer on the first episode that caught an injected fault, then tells the
    episodes to the notification targets set in the environment (or says how to set one)."""
    engine = create_engine(url)
    print()
    for load in loads:
        code = load.equipment.code
        episodes = pd.read_sql(episodes_table.select().where(episodes_table.c.EquipID == load.equipment.equip_id)
                               .order_by(episodes_table.c.StartTime), engine)
        for fault in load.simulation.faults.sort_values("start").itertuples():
            hits = episodes[(pd.to_datetime(episodes["StartTime"]).dt.tz_localize("UTC") <= fault.end)
                            & (pd.to_datetime(episodes["EndTime"]).dt.tz_localize("UTC") >= fault.start)]
            if not hits.empty:
                key = episode_key(code, hits["EpisodeID"].iloc[0])
                record_decision(engine, key, "fault", "acm demo", f"injected {fault.type} fault")
                print(f"triaged {key} as fault (injected {fault.type})")
                break
    print("the others: `acm episodes list`, then `acm episodes triage EPISODE_ID --as acknowledged|fault|normal`")
    senders = NotificationTargets(webhook_url=os.environ.get(WEBHOOK_URL_ENV), smtp_url=os.environ.get(SMTP_URL_ENV),
                                  email_to=os.environ.get(EMAIL_TO_ENV)).senders()
    if not senders:
        print(f"notifications are off: {NOTIFY_ENV_HINT}\n  (then notification_sensor tells each new episode)")
    else:
        result = notify(engine, Told(), senders, NotificationTargets().rate_limit_per_hour, ENSEMBLE_CONFIG.alert_z)
        print(f"notifications to {', '.join(sorted(senders))}: {result.summary()}")
    engine.dispose()
