"""`acm demo`: simulated history in the embedded database, then training and scoring through Dagster runs.

The terminal gets one line per step, a progress bar per run and a summary at the end; Dagster's own log of
every run goes to a file whose path is printed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from tqdm import tqdm

from acm_assets.assets.scoring import scoring_days
from acm_assets.cli import CliError
from acm_assets.cli.historian import add_database_option, open_store
from acm_assets.cli.launcher import Launcher, code_location
from acm_assets.database import ACM_HOME_ENV, DATABASE_URL_ENV, acm_home, create_engine, default_database_url, redact
from acm_assets.definitions import EMAIL_TO_ENV, SMTP_URL_ENV, WEBHOOK_URL_ENV
from acm_assets.jobs import DAYS_TAG, EQUIPMENT_TAG
from acm_assets.notifications.changes import Told
from acm_assets.notifications.tick import notify
from acm_assets.outputs.schema import episodes_table, health_table
from acm_assets.outputs.triage import episode_key, record_decision
from acm_assets.partitions import FIRST_DAY_ENV, LAST_DAY_ENV, scoring_partition_key
from acm_assets.schedules import RANGE_END_TAG, RANGE_START_TAG
from acm_assets.registry.schema import create_registry_table
from acm_assets.resources import NotificationTargets
from acm_assets.settings import ENSEMBLE_CONFIG
from acm_assets.simulation.demo_data import DemoLoad, load_demo_history

BASELINE_DAYS = 60
# Scored days after training; beyond a month the seasons move on and operators retrain (weekly schedule).
SCORED_DAYS = 30
LOG_NAME = "demo.log"
# No line of the demo's own output is wider than this (culprit lists are cut with an ellipsis).
WIDTH = 120
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
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or acm_home() / "dagster").resolve()
    first, last = _data_days(loads)
    settings = {"DAGSTER_HOME": str(dagster_home), FIRST_DAY_ENV: first, LAST_DAY_ENV: last}
    if args.database_url:
        settings[DATABASE_URL_ENV] = args.database_url
    if os.environ.get(ACM_HOME_ENV):
        settings[ACM_HOME_ENV] = str(acm_home())
    # The code server started below, and `dagster dev` / `dg dev` started here later, see the same settings.
    os.environ.update(settings)
    write_env_file(Path.cwd() / ".env", settings)
    _prepare_instance(dagster_home)
    log_path = acm_home() / LOG_NAME
    print(f"Dagster instance: {dagster_home}")
    print(f"the runs' full log: {log_path}")
    with _logging_to(log_path), dg.DagsterInstance.get() as instance:
        with code_location(instance, log_path) as launcher:
            runs = _train_and_score(launcher, url, loads)
            _print_summary(instance, url, loads, runs)
            # triaged before the page is written, so the page shows the decisions
            _triage_and_notify(url, loads)
            page = _fleet_page(launcher)
    print(f"\nFleet health page (open it in a browser): {page}")
    print()
    print(f"Open the Dagster UI on these runs and the demo's month partitions ({first[:7]} .. {last[:7]}):")
    print("  dagster dev    (or dg dev), in this directory")
    print(f"  (.env in this directory sets {', '.join(settings)} for them)")
    return 0


def write_env_file(path: Path, settings: dict[str, str]) -> Path:
    """Sets `settings` in the `.env` file Dagster's commands read from their working directory, keeping the
    file's other lines."""
    kept = []
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if line.partition("=")[0].strip() not in settings]
    lines = [*kept, *(f'{name}="{_quoted(value)}"' for name, value in settings.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # a database URL may carry a password
    return path


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _prepare_instance(dagster_home: Path) -> None:
    """Create the instance directory, with the demo's dagster.yaml unless one is there already."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)


@contextmanager
def _logging_to(path: Path):
    """Python warnings go to `path` (rewritten per demo), not to the terminal; the code server and run
    workers append their console (Dagster's run logs) to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    # Append mode: Dagster closes its loggers' handlers after each run, and an appending handler reopens.
    handler = logging.FileHandler(path, mode="a", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        warnings_logger.removeHandler(handler)
        handler.close()


def _train_and_score(launcher: Launcher, url: str, loads: list[DemoLoad]) -> dict[str, tuple[str, str]]:
    """One training run per equipment, then one scoring run per equipment over its scored days, each set
    launched together; returns {code: (training run id, scoring run id)}."""
    instance = launcher.instance
    codes = [load.equipment.code for load in loads]
    instance.add_dynamic_partitions(
        "equipment", [c for c in codes if not instance.has_dynamic_partition("equipment", c)]
    )
    training, scoring = {}, {}
    for load in loads:
        code = load.equipment.code
        train_start, train_end, last_day = _windows(load)
        print(f"{code}: training on {train_start:%Y-%m-%d} .. {train_end - pd.Timedelta(days=1):%Y-%m-%d} "
              f"({BASELINE_DAYS} fault-free days)")
        training[code] = launch_training(launcher, code, train_start.date(), train_end.date())
    steps = len(launcher.job("training").job_snapshot.dep_structure_snapshot.node_invocation_snaps)
    _follow(launcher, training, f"training {len(codes)} equipment", dict.fromkeys(codes, steps), "step",
            lambda run_id: instance.get_run_stats(run_id).steps_succeeded)
    for load in loads:
        code = load.equipment.code
        _, first_day, last_day = (day.date() for day in _windows(load))
        print(f"{code}: scoring {first_day} .. {last_day}")
        scoring[code] = launch_scoring(launcher, code, first_day, last_day)
    days = {load.equipment.code: (_windows(load)[2] - _windows(load)[1]).days + 1 for load in loads}
    engine = create_engine(url)
    try:
        _follow(launcher, scoring, f"scoring {len(codes)} equipment", days, "day",
                lambda run_id: _days_written(engine, run_id))
    finally:
        engine.dispose()
    return {code: (training[code], scoring[code]) for code in codes}


def launch_training(launcher: Launcher, code: str, start: dt.date, end: dt.date) -> str:
    """The demo's training run of one equipment on the baseline [start, end)."""
    config = {"ops": {"baseline": {"config": {"start": start.isoformat(), "end": end.isoformat()}}}}
    return launcher.launch("training", config, {"dagster/partition": code, EQUIPMENT_TAG: code})


def launch_scoring(launcher: Launcher, code: str, first_day: dt.date, last_day: dt.date) -> str:
    """The demo's scoring run of one equipment's days, over the month partitions that hold them."""
    first, last = (scoring_partition_key(code, day) for day in (first_day, last_day))
    days = str(first_day) if first_day == last_day else f"{first_day} .. {last_day}"
    tags = {RANGE_START_TAG: str(first), RANGE_END_TAG: str(last), EQUIPMENT_TAG: code, DAYS_TAG: days}
    return launcher.launch("scoring", scoring_days(first_day, last_day), tags)


def _follow(launcher: Launcher, runs: dict[str, str], what: str, totals: dict[str, int], unit: str, done) -> None:
    """One progress bar over the runs until all have finished; a failed run fails the demo, naming it."""
    bar = _bar(what, sum(totals.values()), unit)

    def update():
        bar.update(sum(done(run_id) for run_id in runs.values()) - bar.n)

    with bar:
        finished = launcher.wait(list(runs.values()), update)
        update()
    for code, run_id in runs.items():
        if finished[run_id].status != dg.DagsterRunStatus.SUCCESS:
            raise CliError(f"{code}: the run {run_id} ({what}) failed; its log is in {acm_home() / LOG_NAME}")


def _days_written(engine, run_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(health_table.c.RunID == run_id)).scalar()


def _fleet_page(launcher: Launcher) -> str:
    """The fleet health page of the scored days, materialized as its daily schedule does; its path."""
    run_id = launcher.launch("fleet_page")
    _follow(launcher, {"fleet page": run_id}, "fleet page", {"fleet page": 1}, "page",
            lambda run: launcher.instance.get_run_stats(run).steps_succeeded)
    record = launcher.instance.fetch_materializations(dg.AssetKey("fleet_health_page"), limit=1).records[0]
    return record.asset_materialization.metadata["path"].value


def _bar(label: str, total: int, unit: str) -> tqdm:
    return tqdm(total=total, desc=label, unit=unit, file=sys.stderr, leave=True, ncols=WIDTH)


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


def _print_summary(instance: dg.DagsterInstance, url: str, loads: list[DemoLoad], runs: dict) -> None:
    print()
    print("Summary")
    for load in loads:
        code = load.equipment.code
        trained, scored = runs[code]
        evaluations = [
            record.event_log_entry.dagster_event.asset_check_evaluation_data
            for run_id in (trained, scored)
            for record in instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=10_000
            ).records
        ]
        totals = Counter(e.check_name for e in evaluations)
        passed = Counter(e.check_name for e in evaluations if e.passed)
        checks = ", ".join(f"{name} {passed[name]}/{n}" for name, n in sorted(totals.items()))
        print(f"{code}: checks passed {checks}")
        print(f"  runs (re-executable from the UI): training {trained[:8]}, scoring {scored[:8]}")
        for name in sorted(totals):
            failed = [e for e in evaluations if e.check_name == name and not e.passed]
            if failed:
                partitions = ", ".join(str(e.partition) for e in failed)
                print(_fit(f"  {name} did not pass on {len(failed)}: {partitions} ({failed[0].description})"))
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
        print(_fit(f"  {label:<47} {first['StartTime']:%m-%d %H:%M}{'':<7} {delay:<16} {first['PeakZ']:>6.1f}  "
                   f"{first['Culprits']}"))
    others = episodes[~episodes["EpisodeID"].isin(matched)]
    print(f"  false episodes (outside every injected fault): {len(others)}")
    for episode in others.itertuples():
        print(_fit(f"    {episode.StartTime:%m-%d %H:%M} .. {episode.EndTime:%m-%d %H:%M}  peak z {episode.PeakZ:.1f}  "
                   f"{episode.Culprits}"))


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


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
        f"{index[0]:%Y-%m-%d %H:%M} .. {index[-1]:%Y-%m-%d %H:%M} UTC, running {running:.0%} of the time;"
    )
    print(f"  points {result.inserted} inserted, {result.unchanged} unchanged, {result.updated} updated")


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
        print("notifications are off; to turn them on, set ACM_NOTIFY_WEBHOOK_URL (a Slack or Teams incoming webhook)\n"
              "  and/or ACM_SMTP_URL with ACM_NOTIFY_EMAIL_TO: notification_sensor then tells each new episode")
    else:
        result = notify(engine, Told(), senders, NotificationTargets().rate_limit_per_hour, ENSEMBLE_CONFIG.alert_z)
        print(f"notifications to {', '.join(sorted(senders))}: {result.summary()}")
    engine.dispose()
