"""`acm demo`: simulated history in the embedded database, then training and scoring through Dagster runs."""

from __future__ import annotations

import os

import dagster as dg
import pandas as pd

from acm_assets.cli.historian import add_database_option, open_store
from acm_assets.database import acm_home, create_engine, default_database_url, redact
from acm_assets.definitions import build_definitions
from acm_assets.simulation.demo_data import DemoLoad, load_demo_history
from acm_assets.outputs.schema import episodes_table
from acm_assets.registry.schema import create_registry_table

BASELINE_DAYS = 60
# Scored days after training; beyond a month the seasons move on and operators retrain (weekly schedule).
SCORED_DAYS = 30


def register(commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="simulate FD_FAN, COND_PUMP and GAS_TURBINE, train and score them through Dagster, show the episodes",
    )
    add_database_option(demo)
    demo.set_defaults(handler=_demo)


def _demo(args) -> int:
    url = args.database_url or default_database_url()
    with open_store(url) as store:
        loads = load_demo_history(store)
    print(f"database: {redact(url)}")
    for load in loads:
        _print_load(load)
    create_registry_table(create_engine(url))
    dagster_home = os.environ.setdefault("DAGSTER_HOME", str(acm_home() / "dagster"))
    os.makedirs(dagster_home, exist_ok=True)
    with dg.DagsterInstance.get() as instance:
        _train_and_score(instance, url, loads)
    print()
    print("Open the Dagster UI on these runs and tables:")
    print(f"  DAGSTER_HOME={dagster_home} ACM_DATABASE_URL={redact(url)} dagster dev")
    return 0


def _train_and_score(instance: dg.DagsterInstance, url: str, loads: list[DemoLoad]) -> None:
    """One training run and one scoring run (all scored days of the equipment) per equipment."""
    definitions = build_definitions(url)
    training, scoring = definitions.resolve_job_def("training"), definitions.resolve_job_def("scoring")
    codes = [load.equipment.code for load in loads]
    instance.add_dynamic_partitions("equipment", [c for c in codes if not instance.has_dynamic_partition("equipment", c)])
    for load in loads:
        code, simulation = load.equipment.code, load.simulation
        train_end = simulation.faults["start"].min().floor("D")
        train_start = train_end - pd.Timedelta(days=BASELINE_DAYS)
        last_day = min(simulation.frame.index[-1].floor("D"), train_end + pd.Timedelta(days=SCORED_DAYS - 1))
        print()
        print(f"{code}: training on {train_start:%Y-%m-%d} .. {train_end:%Y-%m-%d} (fault-free), "
              f"scoring {train_end:%Y-%m-%d} .. {last_day:%Y-%m-%d}")
        trained = training.execute_in_process(
            instance=instance,
            partition_key=code,
            run_config={"ops": {"baseline": {"config": {"start": f"{train_start:%Y-%m-%d}", "end": f"{train_end:%Y-%m-%d}"}}}},
        )
        first = dg.MultiPartitionKey({"equipment": code, "day": f"{train_end:%Y-%m-%d}"})
        last = dg.MultiPartitionKey({"equipment": code, "day": f"{last_day:%Y-%m-%d}"})
        scored = scoring.execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)},
        )
        print(f"  training run {trained.run_id}, scoring run {scored.run_id}")
        _print_episodes_beside_faults(url, load)


def _print_episodes_beside_faults(url: str, load: DemoLoad) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        episodes = pd.read_sql(
            episodes_table.select().where(episodes_table.c.EquipID == load.equipment.equip_id), conn
        )
    episodes["StartTime"] = pd.to_datetime(episodes["StartTime"]).dt.tz_localize("UTC")
    episodes["EndTime"] = pd.to_datetime(episodes["EndTime"]).dt.tz_localize("UTC")
    matched = set()
    print(f"  {'injected fault':<46} detected by episode")
    for fault in load.simulation.faults.itertuples():
        hits = episodes[(episodes["StartTime"] <= fault.end) & (episodes["EndTime"] >= fault.start)]
        matched.update(hits["EpisodeID"])
        label = f"{fault.type} {fault.start:%m-%d %H:%M}..{fault.end:%m-%d %H:%M}"
        if hits.empty:
            print(f"  {label:<46} MISSED")
            continue
        first = hits.iloc[0]
        delay = max(first["StartTime"] - fault.start, pd.Timedelta(0))
        print(f"  {label:<46} {first['StartTime']:%m-%d %H:%M}, delay {delay}, peak z {first['PeakZ']:.1f}, "
              f"culprits {first['Culprits']}")
    others = episodes[~episodes["EpisodeID"].isin(matched)]
    print(f"  episodes outside any injected fault: {len(others)}")
    for episode in others.itertuples():
        print(f"    {episode.StartTime:%m-%d %H:%M} .. {episode.EndTime:%m-%d %H:%M}  peak z {episode.PeakZ:.1f}  "
              f"{episode.Culprits}")


def _print_load(load: DemoLoad) -> None:
    sim, result, equipment = load.simulation, load.result, load.equipment
    index = sim.frame.index
    running = (sim.state == "running").mean()
    print(
        f"{equipment.code} (EquipID {equipment.equip_id}): {len(index)} rows x {sim.frame.shape[1]} tags, "
        f"{index[0]:%Y-%m-%d %H:%M} .. {index[-1]:%Y-%m-%d %H:%M} UTC, running {running:.0%} of the time; "
        f"points {result.inserted} inserted, {result.unchanged} unchanged, {result.updated} updated"
    )
