"""Simulated equipment historians with exactly labelled faults: the demo's data and the tests' ground truth.

Each equipment type is a small physical model driven by three shared inputs: an operating schedule (run
blocks separated by off periods, with start-up and shut-down ramps), a load demand (daily cycle plus a slow
random walk) and an outdoor ambient temperature (season, daily cycle, weather). Temperatures follow their
heat balance through a first-order lag, so they lag the load and cool down exponentially while the
equipment is off. Off periods and ramps are normal operation, never labelled as faults.

Faults are applied to the finished fault-free signals with their own random stream, so a simulation with
faults is bit-identical to the same simulation with `faults=None` outside every labelled window.
Fault magnitudes are in units of the tag's normal variation (`sigma`: its standard deviation while running
in the fault-free signal); `stuck` has magnitude 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import lfilter

EQUIPMENT_TYPES = ("FD_FAN", "COND_PUMP", "GAS_TURBINE")
FAULT_TYPES = ("step", "drift", "spikes", "stuck", "variance", "correlation_break", "bearing_degradation")
STATES = ("off", "startup", "running", "shutdown")

_OFF, _STARTUP, _RUNNING, _SHUTDOWN = range(4)
_FAULT_STREAM = 7919  # keeps the fault random stream apart from the signal streams


@dataclass(frozen=True)
class FaultSpec:
    """One injected fault. `start` and `end` are inclusive; `tags` for `correlation_break` is
    (reference, broken): only the broken tag changes; for `bearing_degradation` a temperature then vibrations."""

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


@dataclass(frozen=True)
class _Drivers:
    hours: np.ndarray  # time since start
    dt_h: float
    run: np.ndarray  # 0 off .. 1 running (speed during ramps)
    load: np.ndarray  # load demand while running, 0.2 .. 1
    ambient: np.ndarray  # outdoor air, degC
    rng: np.random.Generator

    def noise(self, sigma: float) -> np.ndarray:
        return self.rng.normal(0.0, sigma, self.hours.size)

    def lag(self, target: np.ndarray, tau_h: float) -> np.ndarray:
        """First-order thermal lag (exact discretisation of dT/dt = (target - T) / tau)."""
        a = 1.0 - np.exp(-self.dt_h / tau_h)
        out, _ = lfilter([a], [1.0, a - 1.0], target, zi=[(1.0 - a) * target[0]])
        return out

    def vibration(self, floor: float, running: np.ndarray, rel_noise: float) -> np.ndarray:
        """Vibration amplitude: a sensor floor when stopped, multiplicative noise when running."""
        return np.abs(floor + running * (1.0 + self.noise(rel_noise)) + self.noise(floor * 0.2))


@dataclass(frozen=True)
class _Model:
    tags: dict[str, tuple[str, str]]  # tag -> (description, units)
    operating_tags: tuple[str, ...]
    signals: Callable[[_Drivers], dict[str, np.ndarray]]
    run_days: float  # mean length of a run block
    off_hours: tuple[float, float]  # off period length range
    ramp_up_h: float
    ramp_down_h: float
    load_base: float
    load_daily: float
    fault_tags: tuple[str, ...]  # candidates for single-tag sensor faults
    correlation_pair: tuple[str, str]
    bearing_tags: tuple[str, ...]


def _fd_fan(d: _Drivers) -> dict[str, np.ndarray]:
    r, u = d.run, d.run * d.load
    flow = r * (120.0 + 520.0 * d.load)
    pressure = 1.7 * (flow / 640.0) ** 2
    current = r * (20.0 + 28.0 * d.load**1.5)
    hall = 0.6 * d.ambient + 0.4 * 25.0
    return {
        "FD1.06G31_DAMPER_POS": np.clip(0.4 + r * (8.0 + 55.0 * d.load) + d.noise(0.5), 0.0, 100.0),
        "FD1.06I03_MOTOR_CURRENT": current + d.noise(0.35),
        "FD1.06GP34_OUTLET_PRESS": pressure + d.noise(0.02),
        "FD1.06T31_INLET_AIR_TEMP": d.lag(d.ambient, 0.3) + d.noise(0.15),
        "FD1.06T34_OUTLET_AIR_TEMP": d.lag(d.ambient + r * 1.0 + 1.2 * pressure, 0.5) + d.noise(0.2),
        "FD1.06T32_BEARING_TEMP": d.lag(hall + r * (22.0 + 12.0 * u), 2.0) + d.noise(0.15),
        "FD1.06T33_WINDING_TEMP": d.lag(hall + r * (15.0 + 40.0 * (current / 50.0) ** 2), 0.75) + d.noise(0.2),
        "FD1.06V35_BEARING_VIB": d.vibration(0.05, r * (1.6 + 0.8 * d.load), 0.04),
        "FD1.FSAA_LEFT_INLET_FLOW": 0.49 * flow + d.noise(4.0),
        "FD1.FSAB_RIGHT_INLET_FLOW": 0.51 * flow + d.noise(4.0),
    }


def _cond_pump(d: _Drivers) -> dict[str, np.ndarray]:
    r, u = d.run, d.run * d.load
    power = r * (180.0 + 220.0 * d.load)
    amps = power * 1000.0 / (np.sqrt(3.0) * 6600.0 * 0.86)
    room = 28.0 + 0.3 * (d.ambient - 18.0)
    return {
        "CP1.JT101_MOTOR_POWER": power + d.noise(2.0),
        "CP1.IT101A_CURRENT_PH_A": 1.005 * amps + d.noise(0.25),
        "CP1.IT101B_CURRENT_PH_B": 0.997 * amps + d.noise(0.25),
        "CP1.IT101C_CURRENT_PH_C": 0.998 * amps + d.noise(0.25),
        "CP1.TT102_WINDING_TEMP": d.lag(room + r * 15.0 + 45.0 * (amps / 36.0) ** 2, 0.7) + d.noise(0.2),
        "CP1.TT103_DE_BEARING_TEMP": d.lag(room + r * (20.0 + 12.0 * u), 1.5) + d.noise(0.15),
        "CP1.TT104_NDE_BEARING_TEMP": d.lag(room + r * (16.0 + 9.0 * u), 2.0) + d.noise(0.15),
        "CP1.VT105_DE_BEARING_VIB": d.vibration(0.05, r * (1.2 + 0.6 * d.load), 0.05),
        "CP1.VT106_NDE_BEARING_VIB": d.vibration(0.05, r * (0.9 + 0.4 * d.load), 0.05),
        "CP1.PT107_DISCHARGE_PRESS": r**2 * (13.0 - 3.0 * d.load**2) + d.noise(0.08),
        "CP1.FT108_FLOW": r * (250.0 + 350.0 * d.load) + d.noise(3.0),
    }


def _gas_turbine(d: _Drivers) -> dict[str, np.ndarray]:
    r, u = d.run, d.run * d.load
    enclosure_f = 1.8 * d.ambient + 32.0 + 25.0
    heater_f = 95.0
    stopped_f = np.maximum(enclosure_f, heater_f)  # the lube-oil heater keeps bearings warm when stopped
    # Running, the oil temperature control valve holds the oil whatever the weather (the reference export's
    # LOTEMP1 runs at 128.7 +- 0.3 degF in June to August and in January, with no daily cycle).
    oil_f = (1.0 - r) * stopped_f + r * heater_f
    b1 = r * (0.12 + 0.08 * d.load)
    return {
        "DWATT": r * (80.0 + 100.0 * d.load) + d.noise(0.6),
        "B1VIB1": d.vibration(0.004, b1, 0.04),
        "B1VIB2": d.vibration(0.004, 1.02 * b1, 0.04),
        "B1RADVIBX": d.vibration(0.1, r * (2.5 + 1.5 * d.load), 0.04),
        "B2VIB1": d.vibration(0.002, r * (0.06 + 0.03 * d.load), 0.04),
        "B2VIB2": d.vibration(0.002, r * (0.055 + 0.03 * d.load), 0.04),
        "TURBAXDISP1": d.lag(-24.0 + r * (28.0 + 3.0 * u), 0.5) + d.noise(0.2),
        "TURBAXDISP2": d.lag(-23.8 + r * (27.5 + 3.0 * u), 0.5) + d.noise(0.2),
        "B1TEMP1": d.lag(oil_f + 10.0 + r * (70.0 + 20.0 * u), 0.8) + d.noise(0.3),
        "B2TEMP1": d.lag(oil_f + 8.0 + r * (66.0 + 18.0 * u), 0.8) + d.noise(0.3),
        "ACTTBTEMP1": d.lag(oil_f + r * (58.0 + 15.0 * u), 0.9) + d.noise(0.3),
        "LOTEMP1": d.lag(oil_f + r * (28.0 + 8.0 * u), 1.5) + d.noise(0.2),
    }


_MODELS: dict[str, _Model] = {
    "FD_FAN": _Model(
        tags={
            "FD1.06G31_DAMPER_POS": ("FD fan inlet damper position", "%"),
            "FD1.06I03_MOTOR_CURRENT": ("FD fan motor current", "A"),
            "FD1.06GP34_OUTLET_PRESS": ("FD fan outlet pressure", "kPa"),
            "FD1.06T31_INLET_AIR_TEMP": ("FD fan inlet air temperature", "degC"),
            "FD1.06T34_OUTLET_AIR_TEMP": ("FD fan outlet air temperature", "degC"),
            "FD1.06T32_BEARING_TEMP": ("FD fan bearing temperature", "degC"),
            "FD1.06T33_WINDING_TEMP": ("FD fan motor winding temperature", "degC"),
            "FD1.06V35_BEARING_VIB": ("FD fan bearing vibration velocity", "mm/s"),
            "FD1.FSAA_LEFT_INLET_FLOW": ("FD fan left inlet air flow", "kg/s"),
            "FD1.FSAB_RIGHT_INLET_FLOW": ("FD fan right inlet air flow", "kg/s"),
        },
        operating_tags=("FD1.06G31_DAMPER_POS", "FD1.06I03_MOTOR_CURRENT"),
        signals=_fd_fan,
        run_days=9.0,
        off_hours=(4.0, 40.0),
        ramp_up_h=0.5,
        ramp_down_h=0.34,
        load_base=0.62,
        load_daily=0.12,
        fault_tags=(
            "FD1.06GP34_OUTLET_PRESS",
            "FD1.06T31_INLET_AIR_TEMP",
            "FD1.06T34_OUTLET_AIR_TEMP",
            "FD1.06T32_BEARING_TEMP",
            "FD1.06T33_WINDING_TEMP",
            "FD1.FSAA_LEFT_INLET_FLOW",
            "FD1.FSAB_RIGHT_INLET_FLOW",
        ),
        correlation_pair=("FD1.FSAA_LEFT_INLET_FLOW", "FD1.FSAB_RIGHT_INLET_FLOW"),
        bearing_tags=("FD1.06T32_BEARING_TEMP", "FD1.06V35_BEARING_VIB"),
    ),
    "COND_PUMP": _Model(
        tags={
            "CP1.JT101_MOTOR_POWER": ("Condensate pump motor power", "kW"),
            "CP1.IT101A_CURRENT_PH_A": ("Condensate pump motor current phase A", "A"),
            "CP1.IT101B_CURRENT_PH_B": ("Condensate pump motor current phase B", "A"),
            "CP1.IT101C_CURRENT_PH_C": ("Condensate pump motor current phase C", "A"),
            "CP1.TT102_WINDING_TEMP": ("Condensate pump motor winding temperature", "degC"),
            "CP1.TT103_DE_BEARING_TEMP": ("Condensate pump drive-end bearing temperature", "degC"),
            "CP1.TT104_NDE_BEARING_TEMP": ("Condensate pump non-drive-end bearing temperature", "degC"),
            "CP1.VT105_DE_BEARING_VIB": ("Condensate pump drive-end bearing vibration", "mm/s"),
            "CP1.VT106_NDE_BEARING_VIB": ("Condensate pump non-drive-end bearing vibration", "mm/s"),
            "CP1.PT107_DISCHARGE_PRESS": ("Condensate pump discharge pressure", "bar"),
            "CP1.FT108_FLOW": ("Condensate flow", "m3/h"),
        },
        operating_tags=("CP1.JT101_MOTOR_POWER", "CP1.FT108_FLOW"),
        signals=_cond_pump,
        run_days=5.0,
        off_hours=(3.0, 36.0),
        ramp_up_h=0.2,
        ramp_down_h=0.2,
        load_base=0.6,
        load_daily=0.15,
        fault_tags=(
            "CP1.IT101B_CURRENT_PH_B",
            "CP1.TT102_WINDING_TEMP",
            "CP1.TT103_DE_BEARING_TEMP",
            "CP1.TT104_NDE_BEARING_TEMP",
            "CP1.VT106_NDE_BEARING_VIB",
            "CP1.PT107_DISCHARGE_PRESS",
        ),
        correlation_pair=("CP1.FT108_FLOW", "CP1.PT107_DISCHARGE_PRESS"),
        bearing_tags=("CP1.TT103_DE_BEARING_TEMP", "CP1.VT105_DE_BEARING_VIB"),
    ),
    "GAS_TURBINE": _Model(
        tags={
            "DWATT": ("Generator output", "MW"),
            "B1VIB1": ("Bearing 1 seismic vibration, probe 1", "in/s"),
            "B1VIB2": ("Bearing 1 seismic vibration, probe 2", "in/s"),
            "B1RADVIBX": ("Bearing 1 radial shaft vibration X", "mil"),
            "B2VIB1": ("Bearing 2 seismic vibration, probe 1", "in/s"),
            "B2VIB2": ("Bearing 2 seismic vibration, probe 2", "in/s"),
            "TURBAXDISP1": ("Rotor axial displacement, probe 1", "mil"),
            "TURBAXDISP2": ("Rotor axial displacement, probe 2", "mil"),
            "B1TEMP1": ("Bearing 1 metal temperature", "degF"),
            "B2TEMP1": ("Bearing 2 metal temperature", "degF"),
            "ACTTBTEMP1": ("Active thrust bearing temperature", "degF"),
            "LOTEMP1": ("Lube-oil header temperature", "degF"),
        },
        operating_tags=("DWATT",),
        signals=_gas_turbine,
        run_days=2.5,
        off_hours=(6.0, 48.0),
        ramp_up_h=2.0,
        ramp_down_h=1.0,
        load_base=0.7,
        load_daily=0.2,
        fault_tags=("B2VIB1", "TURBAXDISP1", "B2TEMP1", "ACTTBTEMP1", "LOTEMP1", "B1RADVIBX"),
        correlation_pair=("B1VIB1", "B1VIB2"),
        bearing_tags=("B1TEMP1", "B1VIB1", "B1VIB2"),
    ),
}

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


def equipment_tags(equipment_type: str) -> dict[str, dict[str, str]]:
    """Tag metadata (description, units) of a simulated equipment type."""
    return {tag: {"description": desc, "units": units} for tag, (desc, units) in _model(equipment_type).tags.items()}


def simulate(
    equipment_type: str,
    *,
    start: str | pd.Timestamp = "2024-01-01",
    days: float = 120,
    cadence: str | pd.Timedelta = "10min",
    seed: int = 0,
    faults: str | Sequence[FaultSpec] | None = "default",
    faults_after: str | pd.Timestamp | None = None,
) -> Simulation:
    """Simulate `days` of one equipment at `cadence`; `faults` is "default", None, or a list of FaultSpec."""
    model = _model(equipment_type)
    index = _time_index(start, days, cadence)
    if len(index) < 2:
        raise ValueError(f"simulate({equipment_type!r}): {days} days at {cadence} gives fewer than two samples")
    type_id = EQUIPMENT_TYPES.index(equipment_type)
    schedule_rng, load_rng, signal_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, type_id]).spawn(3)
    )
    dt_h = (index[1] - index[0]) / pd.Timedelta(hours=1)
    hours = np.arange(len(index)) * dt_h
    run, state_codes = _schedule(model, hours, schedule_rng)
    drivers = _Drivers(
        hours=hours,
        dt_h=dt_h,
        run=run,
        load=_load(model, index, hours, dt_h, load_rng),
        ambient=_ambient(index, hours, dt_h, load_rng),
        rng=signal_rng,
    )
    values = model.signals(drivers)
    frame = pd.DataFrame({tag: values[tag] for tag in model.tags}, index=index)
    state = pd.Series(pd.Categorical.from_codes(state_codes, categories=STATES), index=index, name="state")

    fault_rng = np.random.default_rng(np.random.SeedSequence([seed, type_id, _FAULT_STREAM]))
    after = _utc(faults_after)
    if isinstance(faults, str):
        if faults != "default":
            raise ValueError(f"faults must be 'default', None or a list of FaultSpec, not {faults!r}")
        specs = _default_faults(model, state_codes, index, after, dt_h, fault_rng)
    else:
        specs = [_checked(spec, model, index, after, equipment_type) for spec in (faults or [])]
    sigma = _running_sigma(frame, state_codes)
    for spec in specs:
        _inject(frame, spec, sigma, dt_h, fault_rng)
    return Simulation(
        equipment_type=equipment_type,
        frame=frame,
        faults=_fault_table(specs),
        state=state,
        operating_tags=model.operating_tags,
        tag_info=equipment_tags(equipment_type),
        seed=seed,
    )


def _model(equipment_type: str) -> _Model:
    try:
        return _MODELS[equipment_type]
    except KeyError:
        raise ValueError(
            f"unknown simulated equipment type {equipment_type!r}; choose one of {', '.join(EQUIPMENT_TYPES)}"
        ) from None


def _time_index(start, days, cadence) -> pd.DatetimeIndex:
    step = pd.Timedelta(cadence)
    if step <= pd.Timedelta(0):
        raise ValueError(f"cadence must be positive, got {cadence!r}")
    periods = int(pd.Timedelta(days=days) / step)
    return pd.date_range(_utc(start), periods=periods, freq=step, name="EntryDateTime")


def _schedule(model: _Model, hours: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run level (0..1) and state codes. Starts running; run blocks and off periods alternate."""
    starts, codes = [0.0], [_RUNNING]
    knots_t, knots_r = [0.0], [1.0]
    t, horizon = 0.0, hours[-1] + 1.0
    while t < horizon:
        t += max(rng.exponential(model.run_days * 24.0), 12.0)
        off = float(np.exp(rng.uniform(*np.log(model.off_hours))))
        up_at = t + model.ramp_down_h + off
        for begin, code in ((t, _SHUTDOWN), (t + model.ramp_down_h, _OFF), (up_at, _STARTUP)):
            starts.append(begin)
            codes.append(code)
        starts.append(up_at + model.ramp_up_h)
        codes.append(_RUNNING)
        knots_t += [t, t + model.ramp_down_h, up_at, up_at + model.ramp_up_h]
        knots_r += [1.0, 0.0, 0.0, 1.0]
        t = up_at + model.ramp_up_h
    state = np.asarray(codes)[np.searchsorted(starts, hours, side="right") - 1]
    return np.interp(hours, knots_t, knots_r), state


def _ou(rng: np.random.Generator, n: int, tau_h: float, std: float, dt_h: float) -> np.ndarray:
    """Ornstein-Uhlenbeck process (a mean-reverting random walk) with stationary std `std`."""
    phi = np.exp(-dt_h / tau_h)
    shocks = rng.normal(0.0, std * np.sqrt(1.0 - phi**2), n)
    shocks[0] = rng.normal(0.0, std)
    return lfilter([1.0], [1.0, -phi], shocks)


def _daily(index: pd.DatetimeIndex, peak_hour: float) -> np.ndarray:
    hour = index.hour + index.minute / 60.0
    return np.cos(2.0 * np.pi * (hour - peak_hour) / 24.0)


def _load(model: _Model, index, hours, dt_h, rng) -> np.ndarray:
    demand = model.load_base + model.load_daily * _daily(index, 14.0) + _ou(rng, hours.size, 48.0, 0.1, dt_h)
    return np.clip(demand + rng.normal(0.0, 0.01, hours.size), 0.2, 1.0)


def _ambient(index, hours, dt_h, rng) -> np.ndarray:
    season = 9.0 * np.cos(2.0 * np.pi * (index.dayofyear.to_numpy() - 200) / 365.25)
    return 14.0 + season + 5.0 * _daily(index, 15.0) + _ou(rng, hours.size, 36.0, 2.5, dt_h)


def _utc(value) -> pd.Timestamp | None:
    """A UTC timestamp; naive values are taken as UTC."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _running_blocks(state_codes: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) positions of every contiguous running block."""
    running = np.concatenate([[False], state_codes == _RUNNING, [False]])
    edges = np.flatnonzero(np.diff(running.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _default_faults(model, state_codes, index, after, dt_h, rng) -> list[FaultSpec]:
    """Every fault type once, in running periods after `after` (default: the last third), not overlapping."""
    if after is None:
        after = index[0] + (index[-1] - index[0]) * 2 / 3
    first = int(index.searchsorted(after))
    blocks = _running_blocks(state_codes)
    margin = int(np.ceil(_FAULT_MARGIN_H / dt_h))
    for scale in (1.0, 0.5, 0.25, 0.125, 0.0625):
        gap = max(int(np.ceil(_FAULT_GAP_H * scale / dt_h)), 2)
        windows = _place(blocks, first, margin, gap, scale, dt_h)
        if windows is not None:
            break
    else:
        raise ValueError(
            f"not enough running time after {after} to place the default faults "
            f"({', '.join(FAULT_TYPES)}); simulate more days or pass an earlier faults_after"
        )
    sensor_tags = iter(rng.permutation(model.fault_tags))
    specs = []
    for fault_type, (lo, hi) in zip(FAULT_TYPES, windows):
        low, high = _DEFAULT_FAULTS[fault_type][1]
        magnitude = round(float(rng.uniform(low, high)), 2)
        if fault_type == "step" and rng.random() < 0.5:
            magnitude = -magnitude
        if fault_type == "correlation_break":
            tags = model.correlation_pair
        elif fault_type == "bearing_degradation":
            tags = model.bearing_tags
        else:
            tags = (str(next(sensor_tags)),)
        specs.append(FaultSpec(fault_type, index[lo], index[hi], tuple(tags), magnitude))
    return specs


def _place(blocks, first, margin, gap, scale, dt_h) -> list[tuple[int, int]] | None:
    """Greedy placement of the default windows (positions, inclusive) inside running blocks."""
    windows, cursor = [], first
    for fault_type in FAULT_TYPES:
        wanted = max(int(_DEFAULT_FAULTS[fault_type][0] * scale / dt_h), 3)
        shortest = max(wanted // 3, 3)
        for lo, hi in blocks:
            begin, last = max(lo + margin, cursor), hi - margin
            if last - begin + 1 >= shortest:
                end = min(begin + wanted - 1, last)
                windows.append((begin, end))
                cursor = end + 1 + gap
                break
        else:
            return None
    return windows


def _checked(spec: FaultSpec, model: _Model, index, after, equipment_type) -> FaultSpec:
    where = f"fault {spec.type!r} for {equipment_type}"
    if spec.type not in FAULT_TYPES:
        raise ValueError(f"unknown fault type {spec.type!r}; choose one of {', '.join(FAULT_TYPES)}")
    unknown = [tag for tag in spec.tags if tag not in model.tags]
    if unknown or not spec.tags:
        raise ValueError(f"{where}: unknown or missing tags {unknown or list(spec.tags)}")
    if spec.type == "correlation_break" and len(spec.tags) != 2:
        raise ValueError(f"{where}: needs exactly two tags (reference, broken), got {list(spec.tags)}")
    if spec.type == "bearing_degradation" and len(spec.tags) < 2:
        raise ValueError(f"{where}: needs a temperature and at least one vibration tag, got {list(spec.tags)}")
    start, end = _utc(spec.start), _utc(spec.end)
    if end < start or end < index[0] or start > index[-1]:
        raise ValueError(f"{where}: window {start} .. {end} is empty or outside {index[0]} .. {index[-1]}")
    if after is not None and start < after:
        raise ValueError(f"{where}: starts at {start}, before faults_after={after}")
    return FaultSpec(spec.type, start, end, tuple(spec.tags), float(spec.magnitude))


def _running_sigma(frame: pd.DataFrame, state_codes: np.ndarray) -> dict[str, float]:
    running = frame[state_codes == _RUNNING]
    sigma = (running if len(running) > 1 else frame).std()
    return {tag: float(s) if s > 0 else 1.0 for tag, s in sigma.items()}


def _inject(frame: pd.DataFrame, spec: FaultSpec, sigma: dict[str, float], dt_h: float, rng) -> None:
    """Apply one fault in place; only rows inside [start, end] of the listed tags change."""
    rows = np.flatnonzero((frame.index >= spec.start) & (frame.index <= spec.end))
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
            wander = _ou(rng, n, 3.0, m * s, dt_h)
            faulty = clean.mean() + wander + rng.normal(0.0, 0.05 * s, n)
        else:  # bearing_degradation: accelerating rise of temperature and vibration together
            faulty = clean + m * s * ramp**2
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
