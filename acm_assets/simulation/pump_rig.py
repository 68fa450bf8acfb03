"""PUMP_RIG: a water circulation test rig sampled at 1 Hz, of the SKAB kind (8 tags).

A motor-driven centrifugal pump circulates water from a tank through an inlet valve, the pump, an outlet valve
and a flow meter back to the tank. No controller acts: the flow sits where the pump curve (head falling with the
square of the flow) meets the loop's resistance, so everything follows from the valve openings, the supply voltage
and a wandering loop resistance (air content, viscosity; time constants of seconds to minutes). Current follows
the pump's shaft power, discharge pressure the flow through the resistance after the pump, vibration the machine
with a shared wander on both accelerometers. Temperatures warm slowly through a record: the rig was started 1.5
to 4 hours before it and the motor housing (45 min) and the water (3 h) are still heating. Current, voltage and
pressure are recorded at their transmitters' resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from acm_assets.simulation.dynamics import lag, ou, quantise
from acm_assets.simulation.plant import ActiveFault, Clock, Plant, ProcessFault

TAGS = {
    "Accelerometer1RMS": ("Pump vibration acceleration, RMS", "g"),
    "Accelerometer2RMS": ("Motor vibration acceleration, RMS", "g"),
    "Current": ("Motor current", "A"),
    "Pressure": ("Pump discharge pressure", "bar"),
    "Temperature": ("Motor housing temperature", "degC"),
    "Thermocouple": ("Circulating water temperature", "degC"),
    "Voltage": ("Motor supply voltage", "V"),
    "Volume Flow RateRMS": ("Circulation flow, RMS", "l/min"),
}
_NOISE = {  # measurement noise, tag units
    "Accelerometer1RMS": 0.0008,
    "Accelerometer2RMS": 0.0012,
    "Current": 0.004,
    "Pressure": 0.004,
    "Temperature": 0.3,
    "Thermocouple": 0.15,
    "Voltage": 0.3,
    "Volume Flow RateRMS": 0.15,
}
_QUANTA = {"Current": 0.01, "Pressure": 0.01, "Voltage": 0.5}

_FLOW, _VOLTS = 32.0, 220.0  # steady flow l/min, supply V
_SHUTOFF, _PUMP_DROOP = 1.25, 0.25  # pump head at zero flow, and its fall at the steady flow (bar)
_INLET, _OUTLET, _PIPE = 0.15, 0.45, 0.40  # shares of the loop's resistance (1 bar at the steady flow)
_TANK = 0.05  # bar (gauge) at the pump inlet with no flow
_BEST_FLOW = 36.0  # best-efficiency flow, l/min
_ONSET_H = 20.0 / 3600.0  # a valve is turned, a leak opens, over about 20 s
_HOUSING_H, _WATER_H = 0.75, 3.0  # thermal time constants of the motor housing and the water
_STEADY_SHAFT_W = 119.7  # shaft and electric power at the steady point (the heating the temperatures settle to)
_STEADY_ELECTRIC_W = 174.6


@dataclass(frozen=True)
class _Inputs:
    clock: Clock
    voltage: np.ndarray  # supply deviation, V
    resistance: np.ndarray  # pipe resistance deviation, %
    swirl: np.ndarray  # fast flow fluctuation, %
    shake: np.ndarray  # shared vibration wander, %
    room: np.ndarray  # room temperature, degC
    warmed_h: float  # how long the rig ran before the first row
    noise: dict[str, np.ndarray]


def _draw(clock: Clock, rng: np.random.Generator) -> _Inputs:
    n, dt_h = clock.n, clock.dt_h
    return _Inputs(
        clock=clock,
        voltage=ou(rng, n, 5.0 / 3600.0, 1.0, dt_h) + ou(rng, n, 300.0 / 3600.0, 0.5, dt_h),
        resistance=ou(rng, n, 120.0 / 3600.0, 1.0, dt_h),
        swirl=ou(rng, n, 3.0 / 3600.0, 0.4, dt_h),
        shake=ou(rng, n, 30.0 / 3600.0, 3.0, dt_h),
        room=float(rng.uniform(20.0, 26.0)) + ou(rng, n, 1.0, 0.3, dt_h),
        warmed_h=float(rng.uniform(1.5, 4.0)),
        noise={tag: rng.normal(0.0, sd, n) for tag, sd in _NOISE.items()},
    )


def _signals(inputs: _Inputs, fault: ActiveFault | None, rng: np.random.Generator | None) -> dict[str, np.ndarray]:
    clock, n = inputs.clock, inputs.clock.n
    inlet = outlet = np.ones(n)
    imbalance = cavitation = leak = bubbles = np.zeros(n)
    if fault is not None:
        hours = clock.hours
        onset = fault.window(n) * np.clip((hours - hours[fault.first] + clock.dt_h) / _ONSET_H, 0.0, 1.0)
        severity = fault.magnitude * onset
        if fault.type == "outlet_valve_closure":
            outlet = 1.0 - severity
        elif fault.type == "inlet_valve_closure":
            inlet = 1.0 - severity
        elif fault.type == "rotor_imbalance":
            imbalance = severity
        elif fault.type == "cavitation":
            cavitation = severity
            bubbles = np.zeros(n)
            bubbles[fault.first : fault.last + 1] = np.abs(ou(rng, fault.last - fault.first + 1, 2.0 / 3600.0, 1.0,
                                                              clock.dt_h))
        else:  # leak between the pump and the flow meter
            leak = severity

    volts = _VOLTS + inputs.voltage
    speed = 1.0 + 0.0004 * (volts - _VOLTS)  # an induction motor slips less on a stiffer supply
    # Resistances in bar at the steady flow; a valve's resistance rises with the inverse square of its opening.
    before = _INLET / inlet**2
    after = (_OUTLET / outlet**2 + _PIPE * (1.0 + inputs.resistance / 100.0)) * (1.0 - leak) ** 2
    head_at_zero = _SHUTOFF * speed**2 * (1.0 - 0.15 * cavitation * (1.0 + bubbles))
    relative = np.sqrt(head_at_zero / (_PUMP_DROOP + before + after)) * (1.0 + inputs.swirl / 100.0)
    flow = _FLOW * relative
    discharge = _TANK + after * relative**2
    head = discharge - (_TANK - before * relative**2)
    efficiency = 0.45 * (1.0 - 0.8 * ((flow - _BEST_FLOW) / _BEST_FLOW) ** 2)
    shaft = 1.667 * flow * head / efficiency + 6.0 * imbalance
    electric = shaft / 0.8 + 25.0
    current = electric / (volts * 0.85)

    heating = electric / _STEADY_ELECTRIC_W
    room0 = inputs.room[0]
    housing = lag(inputs.room + 48.0 * heating, _HOUSING_H, clock.dt_h,
                  initial=room0 + 48.0 * (1.0 - np.exp(-inputs.warmed_h / _HOUSING_H)))
    water = lag(inputs.room + 9.0 * shaft / _STEADY_SHAFT_W, _WATER_H, clock.dt_h,
                initial=room0 + 9.0 * (1.0 - np.exp(-inputs.warmed_h / _WATER_H)))
    off_best = 0.004 * ((flow - _BEST_FLOW) / (_FLOW - _BEST_FLOW)) ** 2  # recirculation away from best efficiency
    pump_vib = np.sqrt(0.027**2 + off_best**2 + (0.027 * imbalance) ** 2 + (0.08 * cavitation * (1 + bubbles)) ** 2)
    motor_vib = np.sqrt(0.040**2 + (0.024 * imbalance) ** 2 + (0.02 * cavitation * (1 + bubbles)) ** 2)
    noise = inputs.noise
    values = {
        "Accelerometer1RMS": pump_vib * (1.0 + inputs.shake / 100.0) + noise["Accelerometer1RMS"],
        "Accelerometer2RMS": motor_vib * (1.0 + 0.8 * inputs.shake / 100.0) + noise["Accelerometer2RMS"],
        "Current": current + noise["Current"],
        "Pressure": discharge + noise["Pressure"],
        "Temperature": housing + noise["Temperature"],
        "Thermocouple": water + noise["Thermocouple"],
        "Voltage": volts - 2.0 * (current - _STEADY_ELECTRIC_W / (_VOLTS * 0.85)) + noise["Voltage"],  # cable drop
        "Volume Flow RateRMS": flow * (1.0 - leak) + noise["Volume Flow RateRMS"],
    }
    return {tag: quantise(values[tag], _QUANTA[tag]) if tag in _QUANTA else values[tag] for tag in TAGS}


PUMP_RIG = Plant(
    tags=TAGS,
    operating_tags=("Current", "Volume Flow RateRMS"),
    cadence=pd.Timedelta("1s"),
    span=pd.Timedelta(days=1),
    fault_tags=tuple(TAGS),
    correlation_pair=("Accelerometer1RMS", "Accelerometer2RMS"),
    faults={
        "outlet_valve_closure": ProcessFault(("Pressure", "Volume Flow RateRMS"), "fraction of the outlet valve's "
                                             "opening lost", 24.0, (0.05, 0.15)),
        "inlet_valve_closure": ProcessFault(("Pressure", "Volume Flow RateRMS"), "fraction of the inlet valve's "
                                            "opening lost", 24.0, (0.1, 0.3)),
        "rotor_imbalance": ProcessFault(("Accelerometer2RMS", "Accelerometer1RMS"), "imbalance vibration in units of "
                                        "the pump's healthy RMS", 24.0, (0.3, 0.9)),
        "cavitation": ProcessFault(("Volume Flow RateRMS", "Accelerometer1RMS"), "severity, 0 none .. 1 head "
                                   "breakdown", 24.0, (0.05, 0.2)),
        "leak": ProcessFault(("Pressure", "Volume Flow RateRMS"), "fraction of the pump's flow leaking before the "
                             "flow meter", 24.0, (0.02, 0.06)),
    },
    quanta=_QUANTA,
    draw=_draw,
    signals=_signals,
    holds=lambda clock: {},
)
