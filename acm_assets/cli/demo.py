"""`acm demo`: fill the embedded database with simulated equipment history and say what was loaded."""

from __future__ import annotations

from acm_assets.cli.historian import add_database_option, open_store
from acm_assets.database import default_database_url, redact
from acm_assets.ingest.demo_data import DemoLoad, load_demo_history


def register(commands) -> None:
    demo = commands.add_parser(
        "demo", help="load ~6 months of simulated FD_FAN, COND_PUMP and GAS_TURBINE history (idempotent)"
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
    return 0


def _print_load(load: DemoLoad) -> None:
    sim, result, equipment = load.simulation, load.result, load.equipment
    index = sim.frame.index
    running = (sim.state == "running").mean()
    print(
        f"{equipment.code} (EquipID {equipment.equip_id}): {len(index)} rows x {sim.frame.shape[1]} tags, "
        f"{index[0]:%Y-%m-%d %H:%M} .. {index[-1]:%Y-%m-%d %H:%M} UTC, running {running:.0%} of the time; "
        f"points {result.inserted} inserted, {result.unchanged} unchanged, {result.updated} updated"
    )
    print(f"  injected faults ({len(sim.faults)}):")
    for fault in sim.faults.itertuples():
        print(
            f"    {fault.fault_id}. {fault.type:<19} {fault.start:%Y-%m-%d %H:%M} .. {fault.end:%Y-%m-%d %H:%M}  "
            f"magnitude {fault.magnitude:g}  {', '.join(fault.tags)}"
        )
