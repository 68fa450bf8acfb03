"""Simulated equipment historians with exactly labelled faults: the demo's data and the tests' ground truth.

Five types: the three demo machines (`EQUIPMENT_TYPES`, see `machines`) and two continuous plants
(`PROCESS_TYPES`: `CHEM_PROCESS`, a chemical process with control loops and analysers; `PUMP_RIG`, a 1 Hz pump
test rig). Any cadence, any length (`days` or `samples`); `healthy_run` and `fault_run` build the one-fault
protocols of plant benchmarks.

Sensor faults are applied to the finished fault-free signals with their own random stream; a plant's process
faults rerun the plant with the same random inputs and keep its response inside the fault's window. So a
simulation with faults is bit-identical to the same simulation with `faults=None` outside every labelled window.
Sensor fault magnitudes are in units of the tag's normal variation (`sigma`: its standard deviation while running
in the fault-free signal; `stuck` has magnitude 0); process fault magnitudes are in the unit each fault names
(`process_faults`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from acm_assets.simulation.chem_process import CHEM_PROCESS
from acm_assets.simulation.dynamics import ou, quantise
from acm_assets.simulation.machines import MACHINES, RUNNING, STATES, Machine, run_machine
from acm_assets.simulation.plant import ActiveFault, Clock, Plant, ProcessFault
from acm_assets.simulation.pump_rig import PUMP_RIG

EQUIPMENT_TYPES = ("FD_FAN", "COND_PUMP", "GAS_TURBINE")
PROCESS_TYPES = ("CHEM_PROCESS", "PUMP_RIG")
SIMULATED_TYPES = EQUIPMENT_TYPES + PROCESS_TYPES
FAULT_TYPES = ("step", "drift", "spikes", "stuck", "variance", "correlation_break", "bearing_degradation")
SENSOR_FAULT_TYPES = FAULT_TYPES[:-1]

_PLANTS: dict[str, Plant] = {"CHEM_PROCESS": CHEM_PROCESS, "PUMP_RIG": PUMP_RIG}
_MACHINE_DAYS, _MACHINE_CADENCE = 120, "10min"
_FAULT_STREAM = 7919  # keeps the fault random stream apart from the signal streams
_START = "2024-01-01"


@dataclass(frozen=True)
class FaultSpec:
    """One injected fault. `start` and `end` are inclusive; `tags` for `correlation_break` is
    (reference, broken): only the broken tag changes; for `bearing_degradation` a temperature then vibrations; a
    process fault's tags are fixed by its plant (`process_faults`): give them or `()`."""

    type: str
    start: pd.Timestamp | str
    end: pd.Timestamp | str
    tags: tuple[str, ...]
    magnitude: float


@dataclass(frozen=True)
class Simulation:
    equipment_type: str
    frame: pd.DataFrame
    faults: pd.DataFrame
    state: pd.Series
    operating_tags: tuple[str, ...]
    tag_info: dict[str, dict[str, str]] = field(repr=False)
    seed: int = 0


# Default schedule: nominal window length (hours) and magnitude range per fault type.
_DEFAULT_FAULTS: dict[str, tuple[float, tuple[float, float]]] = {
    "step": (18.0, (2.0, 4.0)),
    "drift": (96.0, (3.0, 5.0)),
    "spikes": (24.0, (4.0, 7.0)),
    "stuck": (12.0, (0.0, 0.0)),
    "variance": (24.0, (0.3, 0.6)),
    "correlation_break": (24.0, (0.8, 1.2)),
    "bearing_degradation": (120.0, (2.5, 4.0)),
}
_FAULT_MARGIN_H = 2.0  # keep faults clear of ramps
_FAULT_GAP_H = 12.0  # quiet time between faults
_LADDER = (1.0, 0.5, 0.25, 0.125, 0.0625)  # the window scales tried first, as the machines' schedules always were
_MIN_WINDOW, _MIN_GAP = 10, 3  # samples: what a fault needs to be measured, and the quiet rows between two
_SHRINK = 0.8

# Cryptic historian names: instrument letters from the units, numbered by column (as in the MOTOR export).
_LETTERS = {
    "A": "II", "V": "EI", "degC": "TI", "degF": "TI", "kPa": "PI", "bar": "PI", "%": "ZI", "kW": "JI", "MW": "JI",
    "mm/s": "XI", "in/s": "XI", "mil": "XI", "g": "XI", "kg/s": "FI", "kg/h": "FI", "m3/h": "FI", "kscmh": "FI",
    "l/min": "FI", "m": "LI", "mol%": "AI",
}
_TAG_NAMES = ("plant", "cryptic")


def equipment_tags(equipment_type: str, tag_names: str = "plant") -> dict[str, dict[str, str]]:
    """Tag metadata (description, units) of a simulated equipment type, keyed by the chosen names."""
    names = _names(equipment_type, tag_names)
    return {names[tag]: {"description": desc, "units": units} for tag, (desc, units) in _tags(equipment_type).items()}


def fault_types(equipment_type: str) -> tuple[str, ...]:
    """The fault types a simulated type takes: the sensor faults everywhere, plus bearing degradation on the
    machines or the plant's process faults."""
    if equipment_type in _PLANTS:
        return SENSOR_FAULT_TYPES + tuple(_PLANTS[equipment_type].faults)
    _machine(equipment_type)
    return FAULT_TYPES


def sensor_fault_tags(equipment_type: str) -> tuple[str, ...]:
    """The tags a single-tag sensor fault (step, drift, spikes, stuck, variance) of the default schedule picks from."""
    return tuple(_model(equipment_type).fault_tags)


def process_faults(equipment_type: str) -> dict[str, ProcessFault]:
    """A plant's process faults: the tags each is labelled with, its magnitude's unit and default range."""
    return dict(_plant(equipment_type).faults)


def simulate(
    equipment_type: str,
    *,
    start: str | pd.Timestamp = _START,
    days: float | None = None,
    samples: int | None = None,
    cadence: str | pd.Timedelta | None = None,
    seed: int = 0,
    faults: str | Sequence[FaultSpec] | None = "default",
    faults_after: str | pd.Timestamp | None = None,
    tag_names: str = "plant",
) -> Simulation:
    """Simulate one equipment for `days` or `samples` rows at `cadence` (defaults: the type's own, 120 days at
    10 min for a machine, 30 days at 3 min for CHEM_PROCESS, 1 day at 1 s for PUMP_RIG); `faults` is "default",
    None, or a list of FaultSpec; `tag_names="cryptic"` renames every tag to a meaningless historian name."""
    names = _names(equipment_type, tag_names)
    plant = _PLANTS.get(equipment_type)
    if days is None and samples is None:
        days = plant.span / pd.Timedelta(days=1) if plant else _MACHINE_DAYS
    index = _time_index(equipment_type, start, days, samples, cadence)
    type_id = SIMULATED_TYPES.index(equipment_type)
    streams = np.random.SeedSequence([seed, type_id])
    dt_h = (index[1] - index[0]) / pd.Timedelta(hours=1)
    if plant is None:
        machine = _machine(equipment_type)
        rngs = tuple(np.random.default_rng(s) for s in streams.spawn(3))
        values, state_codes = run_machine(machine, index, dt_h, rngs)
        tags = machine.tags
    else:
        clock = Clock(index)
        inputs = plant.draw(clock, np.random.default_rng(streams))
        values, state_codes, tags = plant.signals(inputs, None, None), np.full(len(index), RUNNING), plant.tags
    frame = pd.DataFrame({tag: values[tag] for tag in tags}, index=index)
    state = pd.Series(pd.Categorical.from_codes(state_codes, categories=STATES), index=index, name="state")

    fault_rng = np.random.default_rng(np.random.SeedSequence([seed, type_id, _FAULT_STREAM]))
    after = _utc(faults_after)
    if isinstance(faults, str):
        if faults != "default":
            raise ValueError(f"faults must be 'default', None or a list of FaultSpec, not {faults!r}")
        specs = _default_faults(equipment_type, state_codes, index, after, dt_h, fault_rng)
    else:
        plant_names = {name: tag for tag, name in names.items()}
        specs = [_checked(spec, equipment_type, index, after, plant_names) for spec in (faults or [])]
    sigma = _running_sigma(frame, state_codes)
    if plant is not None:
        frame = _upset(frame, plant, inputs, [s for s in specs if s.type in plant.faults], fault_rng)
    holds = plant.holds(clock) if plant else {}
    quanta = plant.quanta if plant else {}
    for spec in specs:
        if plant is None or spec.type not in plant.faults:
            _inject(frame, spec, sigma, dt_h, fault_rng, holds, quanta)
    return Simulation(
        equipment_type=equipment_type,
        frame=frame.rename(columns=names),
        faults=_fault_table([replace(spec, tags=tuple(names[tag] for tag in spec.tags)) for spec in specs]),
        state=state,
        operating_tags=tuple(names[tag] for tag in _model(equipment_type).operating_tags),
        tag_info=equipment_tags(equipment_type, tag_names),
        seed=seed,
    )


def healthy_run(equipment_type: str, samples: int, *, seed: int = 0, cadence: str | pd.Timedelta | None = None,
                start: str | pd.Timestamp = _START, tag_names: str = "plant") -> Simulation:
    """`samples` fault-free rows: a baseline, or with another seed a second healthy run of the same plant (same
    parameters, other disturbances and noise)."""
    return simulate(equipment_type, start=start, samples=samples, cadence=cadence, seed=seed, faults=None,
                    tag_names=tag_names)


def fault_run(equipment_type: str, fault_type: str, samples: int, *, at: int, until: int | None = None,
              magnitude: float | None = None, tags: Sequence[str] = (), seed: int = 0,
              cadence: str | pd.Timedelta | None = None, start: str | pd.Timestamp = _START,
              tag_names: str = "plant") -> Simulation:
    """`samples` rows with one fault from row `at` to row `until` (inclusive; default the last row). Before `at`
    the run is `healthy_run` of the same seed. `magnitude` defaults to the middle of the default schedule's range;
    `tags` to the fault's own (process faults, correlation_break, bearing_degradation); a single-tag sensor fault
    needs its tag."""
    where = f"fault_run({equipment_type!r}, {fault_type!r})"
    if fault_type not in fault_types(equipment_type):
        raise ValueError(f"{where}: unknown fault type; choose one of {', '.join(fault_types(equipment_type))}")
    last = samples - 1 if until is None else until
    if not 0 <= at <= last < samples:
        raise ValueError(f"{where}: rows at={at} .. until={until} must satisfy 0 <= at <= until < samples={samples}")
    fixed = _fixed_tags(equipment_type, fault_type)
    if not tags and fixed is None:
        example = _model(equipment_type).fault_tags[0]
        raise ValueError(f"{where}: a {fault_type} fault needs its tag, e.g. tags=({example!r},)")
    if magnitude is None:
        low, high = _magnitude_range(equipment_type, fault_type)
        magnitude = (low + high) / 2.0
    index = _time_index(equipment_type, start, None, samples, cadence)
    spec = FaultSpec(fault_type, index[at], index[last], tuple(tags) or fixed, float(magnitude))
    return simulate(equipment_type, start=start, samples=samples, cadence=cadence, seed=seed, faults=[spec],
                    tag_names=tag_names)


def _machine(equipment_type: str) -> Machine:
    try:
        return MACHINES[equipment_type]
    except KeyError:
        raise ValueError(
            f"unknown simulated equipment type {equipment_type!r}; choose one of {', '.join(SIMULATED_TYPES)}"
        ) from None


def _model(equipment_type: str) -> Machine | Plant:
    return _PLANTS.get(equipment_type) or _machine(equipment_type)


def _plant(equipment_type: str) -> Plant:
    if equipment_type not in _PLANTS:
        _machine(equipment_type)
        raise ValueError(f"{equipment_type} is a machine, not a process plant ({', '.join(PROCESS_TYPES)})")
    return _PLANTS[equipment_type]


def _tags(equipment_type: str) -> dict[str, tuple[str, str]]:
    return _model(equipment_type).tags


def _names(equipment_type: str, tag_names: str) -> dict[str, str]:
    """Plant tag -> the name it gets in the output."""
    tags = _tags(equipment_type)
    if tag_names == "plant":
        return {tag: tag for tag in tags}
    if tag_names == "cryptic":
        return {tag: f"DEMO.SIM.{_LETTERS[units]}{100 + i}" for i, (tag, (_, units)) in enumerate(tags.items())}
    raise ValueError(f"tag_names must be one of {', '.join(_TAG_NAMES)}, not {tag_names!r}")


def _time_index(equipment_type, start, days, samples, cadence) -> pd.DatetimeIndex:
    """`days` or `samples` rows at `cadence` (default: the type's own)."""
    if cadence is None:
        cadence = _PLANTS[equipment_type].cadence if equipment_type in _PLANTS else _MACHINE_CADENCE
    step = pd.Timedelta(cadence)
    if step <= pd.Timedelta(0):
        raise ValueError(f"cadence must be positive, got {cadence!r}")
    if days is not None and samples is not None:
        raise ValueError(f"simulate({equipment_type!r}): give days or samples, not both")
    if samples is None:
        periods = int(pd.Timedelta(days=days) / step)
        if periods < 2:
            raise ValueError(f"simulate({equipment_type!r}): {days} days at {cadence} gives fewer than two samples")
    elif isinstance(samples, (int, np.integer)) and not isinstance(samples, bool) and samples >= 2:
        periods = int(samples)
    else:
        raise ValueError(f"simulate({equipment_type!r}): samples must be a whole number of at least 2, got {samples!r}")
    return pd.date_range(_utc(start), periods=periods, freq=step, name="EntryDateTime")


def _utc(value) -> pd.Timestamp | None:
    """A UTC timestamp; naive values are taken as UTC."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _running_blocks(state_codes: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) positions of every contiguous running block."""
    running = np.concatenate([[False], state_codes == RUNNING, [False]])
    edges = np.flatnonzero(np.diff(running.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _fixed_tags(equipment_type: str, fault_type: str) -> tuple[str, ...] | None:
    """The tags a fault type always takes on this type; None for single-tag sensor faults."""
    if equipment_type in _PLANTS:
        plant = _PLANTS[equipment_type]
        if fault_type in plant.faults:
            return plant.faults[fault_type].tags
        return plant.correlation_pair if fault_type == "correlation_break" else None
    machine = _machine(equipment_type)
    return {"correlation_break": machine.correlation_pair, "bearing_degradation": machine.bearing_tags}.get(fault_type)


def _magnitude_range(equipment_type: str, fault_type: str) -> tuple[float, float]:
    plant = _PLANTS.get(equipment_type)
    if plant is not None and fault_type in plant.faults:
        return plant.faults[fault_type].magnitudes
    return _DEFAULT_FAULTS[fault_type][1]


def _default_faults(equipment_type, state_codes, index, after, dt_h, rng) -> list[FaultSpec]:
    """Every fault type of the equipment once, in running periods after `after` (default: the last third), not
    overlapping."""
    if after is None:
        after = index[0] + (index[-1] - index[0]) * 2 / 3
    types = fault_types(equipment_type)
    plant = _PLANTS.get(equipment_type)
    hours = [plant.faults[t].hours if plant and t in plant.faults else _DEFAULT_FAULTS[t][0] for t in types]
    windows = _default_windows(hours, _running_blocks(state_codes), int(index.searchsorted(after)), dt_h)
    if windows is None:
        raise ValueError(
            f"not enough running time after {after} to place the default faults ({', '.join(types)}; at least "
            f"{_MIN_WINDOW} samples each); simulate more days or pass an earlier faults_after"
        )
    sensor_tags = iter(rng.permutation(_model(equipment_type).fault_tags))
    specs = []
    for fault_type, (lo, hi) in zip(types, windows):
        low, high = _magnitude_range(equipment_type, fault_type)
        magnitude = round(float(rng.uniform(low, high)), 2)
        if fault_type == "step" and rng.random() < 0.5:
            magnitude = -magnitude
        tags = _fixed_tags(equipment_type, fault_type) or (str(next(sensor_tags)),)
        specs.append(FaultSpec(fault_type, index[lo], index[hi], tuple(tags), magnitude))
    return specs


def _default_windows(hours: list[float], blocks, first: int, dt_h: float) -> list[tuple[int, int]] | None:
    """The default windows (positions, inclusive): the nominal lengths at the largest scale of the ladder that
    fits with every window at least `_MIN_WINDOW` samples; where none does (short spans, coarse or fine
    cadences), windows, gaps and ramp margins shrink together until they fit, never below their minimum."""
    margin = int(np.ceil(_FAULT_MARGIN_H / dt_h))
    for scale in _LADDER:
        gap = max(int(np.ceil(_FAULT_GAP_H * scale / dt_h)), 2)
        wanted = [max(int(h * scale / dt_h), 3) for h in hours]
        windows = _place(blocks, first, margin, gap, wanted, 3)
        if windows is not None:
            if min(hi - lo + 1 for lo, hi in windows) >= _MIN_WINDOW:
                return windows
            break
    scale = 1.0
    while True:
        wanted = [max(int(h * scale / dt_h), _MIN_WINDOW) for h in hours]
        gap = max(int(np.ceil(_FAULT_GAP_H * scale / dt_h)), _MIN_GAP)
        margin = max(int(np.ceil(_FAULT_MARGIN_H * scale / dt_h)), 1)
        windows = _place(blocks, first, margin, gap, wanted, _MIN_WINDOW)
        if windows is not None:
            return windows
        if max(wanted) == _MIN_WINDOW and gap == _MIN_GAP and margin == 1:
            return None
        scale *= _SHRINK


def _place(blocks, first, margin, gap, wanted, floor) -> list[tuple[int, int]] | None:
    """Greedy placement of windows of `wanted` samples (cut to a third, never below `floor`) inside running
    blocks, `margin` samples clear of each block's ends and `gap` samples apart."""
    windows, cursor = [], first
    for length in wanted:
        shortest = max(length // 3, floor)
        for lo, hi in blocks:
            begin, last = max(lo + margin, cursor), hi - margin
            if last - begin + 1 >= shortest:
                end = min(begin + length - 1, last)
                windows.append((begin, end))
                cursor = end + 1 + gap
                break
        else:
            return None
    return windows


def _checked(spec: FaultSpec, equipment_type: str, index, after, plant_names: dict[str, str]) -> FaultSpec:
    """The spec validated, its tags as plant tags (the output's names are accepted too)."""
    where = f"fault {spec.type!r} for {equipment_type}"
    types = fault_types(equipment_type)
    if spec.type not in types:
        raise ValueError(f"unknown fault type {spec.type!r}; choose one of {', '.join(types)}")
    tags = tuple(plant_names.get(tag, tag) for tag in spec.tags)
    fixed = _fixed_tags(equipment_type, spec.type)
    if equipment_type in _PLANTS and spec.type in _PLANTS[equipment_type].faults:
        if tags not in ((), fixed):
            raise ValueError(f"{where}: a process fault's tags are its plant's, {list(fixed)} (or give ())")
        tags = fixed
    unknown = [tag for tag in tags if tag not in _tags(equipment_type)]
    if unknown or not tags:
        raise ValueError(f"{where}: unknown or missing tags {unknown or list(spec.tags)}")
    if spec.type == "correlation_break" and len(tags) != 2:
        raise ValueError(f"{where}: needs exactly two tags (reference, broken), got {list(spec.tags)}")
    if spec.type == "bearing_degradation" and len(tags) < 2:
        raise ValueError(f"{where}: needs a temperature and at least one vibration tag, got {list(spec.tags)}")
    start, end = _utc(spec.start), _utc(spec.end)
    if end < start or end < index[0] or start > index[-1]:
        raise ValueError(f"{where}: window {start} .. {end} is empty or outside {index[0]} .. {index[-1]}")
    if after is not None and start < after:
        raise ValueError(f"{where}: starts at {start}, before faults_after={after}")
    return FaultSpec(spec.type, start, end, tags, float(spec.magnitude))


def _running_sigma(frame: pd.DataFrame, state_codes: np.ndarray) -> dict[str, float]:
    running = frame if (state_codes == RUNNING).all() else frame[state_codes == RUNNING]
    sigma = (running if len(running) > 1 else frame).std()
    return {tag: float(s) if s > 0 else 1.0 for tag, s in sigma.items()}


def _rows(index: pd.DatetimeIndex, spec: FaultSpec) -> np.ndarray:
    return np.flatnonzero((index >= spec.start) & (index <= spec.end))


def _upset(frame: pd.DataFrame, plant: Plant, inputs, specs: list[FaultSpec], rng) -> pd.DataFrame:
    """Run the plant once per process fault with the same inputs and take every tag's rows inside its window."""
    values, taken = frame.to_numpy(copy=True), np.zeros(len(frame), dtype=bool)
    for spec in specs:
        rows = _rows(frame.index, spec)
        if rows.size == 0:
            continue
        if taken[rows].any():
            raise ValueError(f"process fault {spec.type!r} at {spec.start} .. {spec.end} overlaps another: a plant "
                             "runs one process fault at a time")
        taken[rows] = True
        upset = plant.signals(inputs, ActiveFault(spec.type, int(rows[0]), int(rows[-1]), spec.magnitude), rng)
        for position, tag in enumerate(frame.columns):
            values[rows, position] = upset[tag][rows]
    return pd.DataFrame(values, index=frame.index, columns=frame.columns)


def _inject(frame: pd.DataFrame, spec: FaultSpec, sigma: dict[str, float], dt_h: float, rng,
            holds: dict[str, np.ndarray], quanta: dict[str, float]) -> None:
    """Apply one sensor fault in place; only rows inside [start, end] of the listed tags change. An analyser shows
    what its last sample read, a quantised tag what its resolution records."""
    rows = _rows(frame.index, spec)
    n, m = rows.size, spec.magnitude
    if n == 0:
        return
    ramp = np.arange(1, n + 1) / n
    for position, tag in enumerate(spec.tags):
        column = frame.columns.get_loc(tag)
        clean = frame.iloc[rows, column].to_numpy()
        s = sigma[tag]
        if spec.type == "step":
            faulty = clean + m * s
        elif spec.type == "drift":
            faulty = clean + m * s * ramp
        elif spec.type == "spikes":
            faulty = clean + _spike_bursts(n, m * s, rng)
        elif spec.type == "stuck":
            held = frame.iat[rows[0] - 1, column] if rows[0] > 0 else clean[0] + 0.5 * s
            faulty = np.full(n, held)
        elif spec.type == "variance":
            faulty = clean + rng.normal(0.0, m * s, n)
        elif spec.type == "correlation_break":
            if position == 0:
                continue  # the reference tag keeps its own behaviour
            wander = ou(rng, n, 3.0, m * s, dt_h)
            faulty = clean.mean() + wander + rng.normal(0.0, 0.05 * s, n)
        else:  # bearing_degradation: accelerating rise of temperature and vibration together
            faulty = clean + m * s * ramp**2
        if tag in holds:
            column_values = frame.iloc[:, column].to_numpy().copy()
            column_values[rows] = faulty
            faulty = column_values[holds[tag][rows]]
        if tag in quanta:
            faulty = quantise(faulty, quanta[tag])
        frame.iloc[rows, column] = faulty


def _spike_bursts(n: int, amplitude: float, rng) -> np.ndarray:
    """A few short bursts of alternating-sign spikes; at least one spike lands in the window."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 6))):
        at = int(rng.integers(n))
        width = int(rng.integers(1, 4))
        signs = rng.choice([-1.0, 1.0], size=width)
        sizes = amplitude * rng.uniform(0.7, 1.3, size=width)
        segment = slice(at, min(at + width, n))
        out[segment] = (signs * sizes)[: segment.stop - segment.start]
    return out


def _fault_table(specs: Sequence[FaultSpec]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "fault_id": pd.Series(range(1, len(specs) + 1), dtype="int64"),
            "type": pd.Series([s.type for s in specs], dtype="object"),
            "start": pd.Series([s.start for s in specs], dtype="datetime64[ns, UTC]"),
            "end": pd.Series([s.end for s in specs], dtype="datetime64[ns, UTC]"),
            "tags": pd.Series([list(s.tags) for s in specs], dtype="object"),
            "magnitude": pd.Series([s.magnitude for s in specs], dtype="float64"),
        }
    )
