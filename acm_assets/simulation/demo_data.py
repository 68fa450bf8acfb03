"""The embedded demo's history: the three simulated equipment, registered and written into the historian tables.

Fixed start and seed, so every run writes the same points and a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.historian import Equipment, HistorianStore, WriteResult
from acm_assets.simulation.simulator import EQUIPMENT_TYPES, Simulation, simulate

DEMO_START = "2024-01-01"
DEMO_DAYS = 182
DEMO_CADENCE = "10min"
DEMO_SEED = 7
DEMO_NAMES = {
    "FD_FAN": "Forced-draft fan (simulated)",
    "COND_PUMP": "Condensate pump (simulated)",
    "GAS_TURBINE": "Gas turbine (simulated)",
}


@dataclass(frozen=True)
class DemoLoad:
    """One demo equipment: its registry row, the simulation (with fault labels) and what the write did."""

    equipment: Equipment
    simulation: Simulation
    result: WriteResult


def load_demo_history(
    store: HistorianStore,
    *,
    start: str = DEMO_START,
    days: float = DEMO_DAYS,
    cadence: str = DEMO_CADENCE,
    seed: int = DEMO_SEED,
) -> list[DemoLoad]:
    """Register FD_FAN, COND_PUMP and GAS_TURBINE (if missing) and write their simulated history.

    Faults are the simulator's default schedule (the last third). Equipment with one of these codes
    whose tags are not the simulator's is real equipment: refused, never overwritten with simulated data.
    """
    store.create_tables()
    loads = []
    for equipment_type in EQUIPMENT_TYPES:
        simulation = simulate(equipment_type, start=start, days=days, cadence=cadence, seed=seed)
        equipment = _demo_equipment(store, equipment_type, simulation)
        result = store.write_frame(equipment.code, simulation.frame, tags=simulation.tag_info)
        loads.append(DemoLoad(equipment=equipment, simulation=simulation, result=result))
    return loads


def _demo_equipment(store: HistorianStore, code: str, simulation: Simulation) -> Equipment:
    try:
        existing = store.get_equipment(code)
    except IngestError:
        return store.add_equipment(code, name=DEMO_NAMES[code], equip_type=code, tags=simulation.tag_info)
    if set(existing.tags) != set(simulation.tag_info):
        raise IngestError(
            f"equipment {code!r} (EquipID {existing.equip_id}) exists with tags other than the simulator's; "
            "the demo does not write simulated data into real equipment (use an empty database)"
        )
    return existing
