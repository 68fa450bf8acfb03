"""The three demo machines (FD_FAN, COND_PUMP, GAS_TURBINE): small physical models driven by three shared inputs.

The inputs are an operating schedule (run blocks separated by off periods, with start-up and shut-down ramps), a
load demand (daily cycle plus a slow random walk) and an outdoor ambient temperature (season, daily cycle,
weather). Temperatures follow their heat balance through a first-order lag, so they lag the load and cool down
exponentially while the equipment is off. Off periods and ramps are normal operation, never labelled as faults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from acm_assets.simulation.dynamics import lag, ou

STATES = ("off", "startup", "running", "shutdown")
OFF, STARTUP, RUNNING, SHUTDOWN = range(4)


@dataclass(frozen=True)
class Drivers:
    hours: np.ndarray  # time since start
    dt_h: float
    run: np.ndarray  # 0 off .. 1 running (speed during ramps)
    load: np.ndarray  # load demand while running, 0.2 .. 1
    ambient: np.ndarray  # outdoor air, degC
    rng: np.random.Generator

    def noise(self, sigma: float) -> np.ndarray:
        return self.rng.normal(0.0, sigma, self.hours.size)

    def lag(self, target: np.ndarray, tau_h: float) -> np.ndarray:
        """First-order thermal lag."""
        return lag(target, tau_h, self.dt_h)

    def vibration(self, floor: float, running: np.ndarray, rel_noise: float) -> np.ndarray:
        """Vibration amplitude: a sensor floor when stopped, multiplicative noise when running."""
        return np.abs(floor + running * (1.0 + self.noise(rel_noise)) + self.noise(floor * 0.2))


@dataclass(frozen=True)
class Machine:
    tags: dict[str, tuple[str, str]]  # tag -> (description, units)
    operating_tags: tuple[str, ...]
    signals: Callable[[Drivers], dict[str, np.ndarray]]
    run_days: float  # mean length of a run block
    off_hours: tuple[float, float]  # off period length range
    ramp_up_h: float
    ramp_down_h: float
    load_base: float
    load_daily: float
    fault_tags: tuple[str, ...]  # candidates for single-tag sensor faults
    correlation_pair: tuple[str, str]
    bearing_tags: tuple[str, ...]


def run_machine(machine: Machine, index: pd.DatetimeIndex, dt_h: float,
                rngs: tuple[np.random.Generator, ...]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The machine's fault-free signals and the state code of every row."""
    schedule_rng, load_rng, signal_rng = rngs
    hours = np.arange(len(index)) * dt_h
    run, state_codes = _schedule(machine, hours, schedule_rng)
    drivers = Drivers(
        hours=hours,
        dt_h=dt_h,
        run=run,
        load=_load(machine, index, hours, dt_h, load_rng),
        ambient=_ambient(index, hours, dt_h, load_rng),
        rng=signal_rng,
    )
    return machine.signals(drivers), state_codes


def _fd_fan(d: Drivers) -> dict[str, np.ndarray]:
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


def _cond_pump(d: Drivers) -> dict[str, np.ndarray]:
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


def _gas_turbine(d: Drivers) -> dict[str, np.ndarray]:
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


MACHINES: dict[str, Machine] = {
    "FD_FAN": Machine(
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
    "COND_PUMP": Machine(
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
    "GAS_TURBINE": Machine(
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


def _schedule(machine: Machine, hours: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run level (0..1) and state codes. Starts running; run blocks and off periods alternate."""
    starts, codes = [0.0], [RUNNING]
    knots_t, knots_r = [0.0], [1.0]
    t, horizon = 0.0, hours[-1] + 1.0
    while t < horizon:
        t += max(rng.exponential(machine.run_days * 24.0), 12.0)
        off = float(np.exp(rng.uniform(*np.log(machine.off_hours))))
        up_at = t + machine.ramp_down_h + off
        for begin, code in ((t, SHUTDOWN), (t + machine.ramp_down_h, OFF), (up_at, STARTUP)):
            starts.append(begin)
            codes.append(code)
        starts.append(up_at + machine.ramp_up_h)
        codes.append(RUNNING)
        knots_t += [t, t + machine.ramp_down_h, up_at, up_at + machine.ramp_up_h]
        knots_r += [1.0, 0.0, 0.0, 1.0]
        t = up_at + machine.ramp_up_h
    state = np.asarray(codes)[np.searchsorted(starts, hours, side="right") - 1]
    # A start-up shorter than a sample (1 h cadence) still shows: the first row after it is a start-up row,
    # its temperatures still warming.
    first_after = np.searchsorted(hours, np.asarray(starts)[np.asarray(codes) == STARTUP])
    first_after = first_after[first_after < hours.size]
    state[first_after[state[first_after] == RUNNING]] = STARTUP
    return np.interp(hours, knots_t, knots_r), state


def _daily(index: pd.DatetimeIndex, peak_hour: float) -> np.ndarray:
    hour = index.hour + index.minute / 60.0
    return np.cos(2.0 * np.pi * (hour - peak_hour) / 24.0)


def _load(machine: Machine, index, hours, dt_h, rng) -> np.ndarray:
    demand = machine.load_base + machine.load_daily * _daily(index, 14.0) + ou(rng, hours.size, 48.0, 0.1, dt_h)
    return np.clip(demand + rng.normal(0.0, 0.01, hours.size), 0.2, 1.0)


def _ambient(index, hours, dt_h, rng) -> np.ndarray:
    season = 9.0 * np.cos(2.0 * np.pi * (index.dayofyear.to_numpy() - 200) / 365.25)
    return 14.0 + season + 5.0 * _daily(index, 15.0) + ou(rng, hours.size, 36.0, 2.5, dt_h)
