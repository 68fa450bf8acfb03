"""Signal building blocks shared by the simulated plants: random disturbances, lags, control loops, and what a
historian does to a measurement (sample-and-hold, quantisation). Every filter is an exact or unconditionally
stable discretisation, so one plant definition holds from 1 s to 1 h cadence."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter


def ou(rng: np.random.Generator, n: int, tau_h: float, std: float, dt_h: float) -> np.ndarray:
    """Ornstein-Uhlenbeck process (a mean-reverting random walk) with stationary std `std`."""
    phi = np.exp(-dt_h / tau_h)
    shocks = rng.normal(0.0, std * np.sqrt(1.0 - phi**2), n)
    shocks[0] = rng.normal(0.0, std)
    return lfilter([1.0], [1.0, -phi], shocks)


def lag(target: np.ndarray, tau_h: float, dt_h: float, initial: float | None = None) -> np.ndarray:
    """First-order lag (exact discretisation of dy/dt = (target - y) / tau), starting settled on the first target
    unless `initial` says where it starts."""
    a = 1.0 - np.exp(-dt_h / tau_h)
    start = target[0] if initial is None else initial
    out, _ = lfilter([a], [1.0, a - 1.0], target, zi=[(1.0 - a) * start])
    return out


def controlled(load: np.ndarray, gain: float, tau_h: float, lam_h: float, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    """A PI loop's deviations (measurement, controller output) under `load`, the open-loop effect of the
    disturbances on the measurement. The process answers its valve with `gain` through a first-order lag `tau_h`;
    the controller is IMC-tuned (gain tau / (gain lambda), reset time tau), so the closed loop is first order with
    time constant `lam_h`: the measurement returns to its set point and the output settles at -load / gain."""
    settled = lag(load, lam_h, dt_h)
    measurement = load - settled
    output = -((tau_h / lam_h) * load + (1.0 - tau_h / lam_h) * settled) / gain
    return measurement, output


def sticky_loop(load: np.ndarray, gain: float, tau_h: float, lam_h: float, dt_h: float, band: float,
                measurement0: float, output0: float) -> tuple[np.ndarray, np.ndarray]:
    """The same loop with a sticking valve (deadband `band` in output units: the valve holds until the controller
    asks for more than the band away, then jumps there), stepped on a grid fine enough for the loop: the
    measurement cycles and the controller's output saw-tooths around the stuck valve. Row 0 of `load` is the
    sample before the sticking starts, where the loop stood at (`measurement0`, `output0`); the deviations
    returned are those of the rows after it."""
    substeps = max(int(np.ceil(dt_h / (lam_h / 10.0))), 1)
    h = dt_h / substeps
    kc, decay = tau_h / (gain * lam_h), np.exp(-h / tau_h)
    valve, wanted, response = output0, output0, measurement0 - load[0]
    integral = output0 / kc + measurement0
    measurements, outputs = np.empty(load.size - 1), np.empty(load.size - 1)
    for i, disturbance in enumerate(load[1:]):
        for _ in range(substeps):
            response = decay * response + (1.0 - decay) * gain * valve
            error = -(response + disturbance)
            integral += error * h / tau_h
            wanted = kc * (error + integral)
            if abs(wanted - valve) > band:
                valve = wanted
        measurements[i], outputs[i] = response + disturbance, wanted
    return measurements, outputs


def sample_and_hold(elapsed: np.ndarray, period: pd.Timedelta, dead: pd.Timedelta) -> np.ndarray:
    """For every row (`elapsed`: nanoseconds since the first), the row whose value an analyser shows then: it
    samples every `period` and reports each result `dead` later, holding it until the next one (before its first
    result it shows the first sample). Integer time, so hold groups never slip by a rounding error."""
    step, delay = period.value, dead.value
    taken = np.maximum((elapsed - delay) // step * step, 0)
    return np.searchsorted(elapsed, taken, side="right") - 1


def quantise(values: np.ndarray, step: float) -> np.ndarray:
    """What an integer transmitter or historian resolution records."""
    return np.round(values / step) * step
