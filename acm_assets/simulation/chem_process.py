"""CHEM_PROCESS: a continuous chemical plant with 52 tags at 3-minute cadence, of the Tennessee-Eastman kind.

Gaseous feeds A, D, E and A+C go to an exothermic reactor cooled by a water jacket; its product is condensed,
flashed in a separator (vapour recycled by a compressor, a purge removing the inert B) and stripped with steam
into the liquid product G/H. Deviations from the steady operating point are linear first-order responses to slow
random disturbances (time constants of hours); nine PI loops hold temperatures, pressure, levels and compositions
at their set points (`dynamics.controlled`), so the controllers' outputs, not the controlled measurements, carry
most of the disturbances. Feed and product flows are set by fast flow loops, so each flow and its valve form a
near-identical pair; the valves differ from their flows by the supply pressure across them.

Analysers report compositions every 6 minutes (reactor feed, purge gas) or 15 minutes (product) after a dead time
of one sampling interval, holding each result. Two valves are fixed by the operator and record a constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from acm_assets.simulation.dynamics import controlled, lag, ou, sample_and_hold, sticky_loop
from acm_assets.simulation.plant import ActiveFault, Clock, Plant, ProcessFault

_MEASUREMENTS = {
    "CH1.FI101_A_FEED": ("A feed flow", "kscmh", 0.2505, 0.00003),
    "CH1.FI102_D_FEED": ("D feed flow", "kg/h", 3664.0, 0.6),
    "CH1.FI103_E_FEED": ("E feed flow", "kg/h", 4509.0, 0.9),
    "CH1.FI104_AC_FEED": ("A and C feed flow", "kscmh", 9.348, 0.003),
    "CH1.FI105_RECYCLE": ("Recycle flow", "kscmh", 26.90, 0.12),
    "CH1.FI106_REACTOR_FEED": ("Reactor feed rate", "kscmh", 42.34, 0.15),
    "CH1.PI107_REACTOR_PRESS": ("Reactor pressure", "kPa", 2705.0, 0.8),
    "CH1.LI108_REACTOR_LEVEL": ("Reactor liquid level", "m", 1.500, 0.002),
    "CH1.TI109_REACTOR_TEMP": ("Reactor temperature", "degC", 120.40, 0.02),
    "CH1.FI110_PURGE": ("Purge flow", "kscmh", 0.3371, 0.004),
    "CH1.TI111_SEP_TEMP": ("Separator temperature", "degC", 80.10, 0.02),
    "CH1.LI112_SEP_LEVEL": ("Separator liquid level", "m", 1.000, 0.002),
    "CH1.PI113_SEP_PRESS": ("Separator pressure", "kPa", 2633.7, 0.8),
    "CH1.FI114_SEP_UNDERFLOW": ("Separator underflow", "m3/h", 25.16, 0.05),
    "CH1.LI115_STRIP_LEVEL": ("Stripper liquid level", "m", 0.800, 0.002),
    "CH1.PI116_STRIP_PRESS": ("Stripper pressure", "kPa", 3102.2, 0.8),
    "CH1.FI117_PRODUCT": ("Stripper underflow (product)", "m3/h", 22.95, 0.01),
    "CH1.TI118_STRIP_TEMP": ("Stripper temperature", "degC", 65.73, 0.12),
    "CH1.FI119_STEAM": ("Stripper steam flow", "kg/h", 230.3, 0.8),
    "CH1.JI120_COMPRESSOR": ("Compressor work", "kW", 341.4, 1.0),
    "CH1.TI121_REACTOR_CW_OUT": ("Reactor cooling water outlet temperature", "degC", 94.60, 0.06),
    "CH1.TI122_COND_CW_OUT": ("Condenser cooling water outlet temperature", "degC", 77.30, 0.03),
}
# (stream, period, components with their steady mol %); analyser noise is 0.3 % of the reading plus 0.002 mol %
_ANALYSERS = (
    ("FEED", "6min", {"A": 32.19, "B": 8.89, "C": 26.38, "D": 6.88, "E": 18.78, "F": 1.657}),
    ("PURGE", "6min", {"A": 32.96, "B": 13.82, "C": 23.98, "D": 1.257, "E": 18.58, "F": 2.263, "G": 4.844, "H": 2.299}),
    ("PRODUCT", "15min", {"D": 0.01787, "E": 0.8357, "F": 0.09858, "G": 53.72, "H": 43.83}),
)
_STREAMS = {"FEED": "Reactor feed", "PURGE": "Purge gas", "PRODUCT": "Product"}
# valve -> (description, steady opening %, the flow its loop sets or None)
_VALVES = {
    "CH1.V301_D_FEED_VALVE": ("D feed valve", 63.05, "CH1.FI102_D_FEED"),
    "CH1.V302_E_FEED_VALVE": ("E feed valve", 53.98, "CH1.FI103_E_FEED"),
    "CH1.V303_A_FEED_VALVE": ("A feed valve", 24.64, "CH1.FI101_A_FEED"),
    "CH1.V304_AC_FEED_VALVE": ("A and C feed valve", 61.30, "CH1.FI104_AC_FEED"),
    "CH1.V305_RECYCLE_VALVE": ("Compressor recycle valve (fixed)", 22.21, None),
    "CH1.V306_PURGE_VALVE": ("Purge valve", 40.06, "CH1.FI110_PURGE"),
    "CH1.V307_SEP_LIQUID_VALVE": ("Separator liquid valve", 38.10, "CH1.FI114_SEP_UNDERFLOW"),
    "CH1.V308_PRODUCT_VALVE": ("Stripper product valve", 46.53, "CH1.FI117_PRODUCT"),
    "CH1.V309_STEAM_VALVE": ("Stripper steam valve (fixed)", 47.45, None),
    "CH1.V310_REACTOR_CW_VALVE": ("Reactor cooling water valve", 41.11, None),
    "CH1.V311_COND_CW_VALVE": ("Condenser cooling water valve", 18.11, None),
}
_FIXED_VALVES = ("CH1.V305_RECYCLE_VALVE", "CH1.V309_STEAM_VALVE")


def _jitter(valve: str) -> float:
    """A loop's output answers its measurement's noise through the controller's gain: a flow loop's in proportion
    to the flow, the temperature loops' by their IMC gain."""
    _, opening, flow = _VALVES[valve]
    if flow is not None:
        _, _, steady, noise = _MEASUREMENTS[flow]
        return opening * noise / steady
    gain, tau_h, lam_h = _TEMPERATURE_LOOPS[valve]
    measured = {"CH1.V310_REACTOR_CW_VALVE": "CH1.TI109_REACTOR_TEMP", "CH1.V311_COND_CW_VALVE": "CH1.TI111_SEP_TEMP"}
    return abs(tau_h / (gain * lam_h)) * _MEASUREMENTS[measured[valve]][3]


def _analyser_tags() -> dict[str, tuple[str, str, float, str]]:
    tags, number = {}, 201
    for stream, period, components in _ANALYSERS:
        for component, steady in components.items():
            tags[f"CH1.AI{number}_{stream}_{component}"] = (
                f"{_STREAMS[stream]} analysis, component {component}", "mol%", steady, period
            )
            number += 1
    return tags


_ANALYSER_TAGS = _analyser_tags()
TAGS: dict[str, tuple[str, str]] = {
    **{tag: (desc, units) for tag, (desc, units, _, _) in _MEASUREMENTS.items()},
    **{tag: (desc, units) for tag, (desc, units, _, _) in _ANALYSER_TAGS.items()},
    **{tag: (f"{desc}, controller output", "%") for tag, (desc, _, _) in _VALVES.items()},
}

# Disturbances are driven by a few random sources: (time constant h, standard deviation) and the share of it each
# disturbance takes. Upstream sources reach several loops, as on a real plant; the slow drifts of hours are what
# a day-long baseline sees only part of.
_SOURCES = {
    "supply": ((0.5, 1.0), {"xa": 0.25, "xb": 0.012}),  # the A+C supplier's composition (A, inert B: mol %)
    "cooling": ((0.5, 0.3), {"tcw": 1.0, "tcd": 0.8}),  # the cooling tower's water (K at the two inlets)
    "catalyst": ((0.5, 1.0), {"sel": 1.0, "cnd": 0.3}),  # G selectivity (% of its rate), condensate split (%)
    "boilup": ((0.5, 1.0), {"vap": 1.0, "cnd": 0.5}),  # reactor boil-up (%)
    "steam": ((0.2, 1.0), {"sth": 1.0}),  # steam header pressure (%)
    "compressor": ((0.25, 1.0), {"cmp": 1.0}),  # recycle compressor suction conditions (% of throughput)
    "feed_temperature": ((0.25, 0.3), {"tfd": 1.0}),  # D feed temperature (K)
    "headers": ((0.1, 1.0), {"hdr": 0.05, "dpl": 1.5, "dpp": 0.05}),  # pressure drops across valves (%)
    "supply_drift": ((4.0, 0.4), {"xa": 0.25, "xb": 0.012}),
    "weather": ((6.0, 0.3), {"tcw": 1.0, "tcd": 1.0}),
    "activity": ((8.0, 0.2), {"kin": 1.0}),  # catalyst activity (%)
}
_DISTURBANCES = ("xa", "xb", "tcw", "tcd", "kin", "sel", "vap", "cmp", "cnd", "tfd", "hdr", "sth", "dpl", "dpp")
# Temperature loops: gain K/% (more cooling water, cooler), process lag h, closed-loop time constant h. The
# reactor's is shared by the clean plant and the sticking-valve fault.
_TEMPERATURE_LOOPS = {"CH1.V310_REACTOR_CW_VALVE": (-0.8, 0.25, 0.08), "CH1.V311_COND_CW_VALVE": (-1.0, 0.3, 0.1)}


@dataclass(frozen=True)
class _Inputs:
    clock: Clock
    disturbances: dict[str, np.ndarray]
    noise: dict[str, np.ndarray]


def _draw(clock: Clock, rng: np.random.Generator) -> _Inputs:
    n, dt_h = clock.n, clock.dt_h
    disturbances = {name: np.zeros(n) for name in _DISTURBANCES}
    for (tau, std), shares in _SOURCES.values():
        source = ou(rng, n, tau, std, dt_h)
        for name, share in shares.items():
            disturbances[name] = disturbances[name] + share * source
    noise = {tag: rng.normal(0.0, sd, n) for tag, (_, _, _, sd) in _MEASUREMENTS.items()}
    noise |= {tag: rng.normal(0.0, 0.003 * steady + 0.002, n) for tag, (_, _, steady, _) in _ANALYSER_TAGS.items()}
    noise |= {tag: rng.normal(0.0, _jitter(tag), n) for tag in _VALVES if tag not in _FIXED_VALVES}
    return _Inputs(clock, disturbances, noise)


def _holds(clock: Clock) -> dict[str, np.ndarray]:
    by_period = {}
    for tag, (*_, period) in _ANALYSER_TAGS.items():
        if period not in by_period:
            step = pd.Timedelta(period)
            by_period[period] = sample_and_hold(clock.elapsed, step, step)
    return {tag: by_period[period] for tag, (*_, period) in _ANALYSER_TAGS.items()}


def _signals(inputs: _Inputs, fault: ActiveFault | None, rng: np.random.Generator | None) -> dict[str, np.ndarray]:
    clock, d = inputs.clock, dict(inputs.disturbances)
    n, dt_h = clock.n, clock.dt_h
    if fault is not None:
        d = _disturbed(d, fault, clock, rng)

    def slow(x: np.ndarray, tau_h: float) -> np.ndarray:
        return lag(x, tau_h, dt_h)

    # Reactor temperature <- cooling water valve: the jacket's inlet temperature, the reaction heat (activity)
    # and the D feed temperature load it.
    gain, tau_h, lam_h = _TEMPERATURE_LOOPS["CH1.V310_REACTOR_CW_VALVE"]
    load_tr = slow(0.8 * d["tcw"] + 0.68 * d["kin"] + 0.08 * d["tfd"], 0.3)
    tr, v_rcw = controlled(load_tr, gain, tau_h, lam_h, dt_h)
    if fault is not None and fault.type == "valve_sticking":
        k = max(fault.first, 1)  # stepped on from the row before the sticking starts
        stuck = sticky_loop(load_tr[k - 1 : fault.last + 1], gain, tau_h, lam_h, dt_h, fault.magnitude,
                            tr[k - 1], v_rcw[k - 1])
        tr[k : fault.last + 1], v_rcw[k : fault.last + 1] = stuck
    # Separator temperature <- condenser cooling water valve.
    ts, v_ccw = controlled(slow(0.9 * d["tcd"] + 0.1 * d["kin"], 0.3), *_TEMPERATURE_LOOPS["CH1.V311_COND_CW_VALVE"],
                           dt_h)
    # Reactor pressure <- A+C feed flow: a more active catalyst consumes gas; inerts, the compressor and a hotter
    # reactor raise it.
    load_pr = -15.0 * d["kin"] + 60.0 * d["xb"] + 6.0 * d["cmp"] + 1.5 * tr
    pr, f_c = controlled(slow(load_pr, 0.3), 90.0, 0.4, 0.3, dt_h)
    # A in the reactor feed (analyser) <- A feed flow.
    ya, f_a = controlled(slow(0.9 * d["xa"] - 0.2 * d["kin"], 0.3), 30.0, 0.5, 0.6, dt_h)
    # G in the product (analyser) <- D feed flow (kg/h): more D makes more G.
    yg, f_d = controlled(slow(0.2 * d["sel"] + 0.1 * d["kin"] + 0.05 * d["xa"], 0.5), 0.01, 1.0, 1.5, dt_h)
    # Reactor level <- E feed flow (kg/h), against the boil-up.
    lr, f_e = controlled(slow(-0.01 * d["vap"] + 0.002 * d["kin"], 0.5), 0.0005, 1.5, 0.5, dt_h)
    # Inert B in the purge gas (analyser) <- purge flow.
    yb, f_purge = controlled(slow(25.0 * d["xb"], 0.5), -40.0, 1.0, 1.0, dt_h)
    # Levels <- their outflows, which follow the inflows: condensate into the separator, then into the stripper
    # less what the steam strips off.
    condensate = 0.25 * d["cnd"] - 0.4 * ts + 0.05 * d["kin"]
    ls, f_sep = controlled(0.05 * slow(condensate, 2.0), -0.05, 2.0, 0.25, dt_h)
    lt, f_prod = controlled(0.05 * slow(0.91 * f_sep - 0.15 * d["sth"], 1.5), -0.05, 1.5, 0.3, dt_h)

    f_a, f_c, f_purge = 0.2505 + f_a, 9.348 + f_c, 0.3371 + f_purge
    f_d, f_e = 3664.0 + f_d, 4509.0 + f_e
    f_sep, f_prod = 25.16 + f_sep, 22.95 + f_prod
    recycle = slow(0.02 * pr + 0.27 * d["cmp"], 0.1)
    p_sep = pr - 2.6 * recycle
    truth = {
        "CH1.FI101_A_FEED": f_a,
        "CH1.FI102_D_FEED": f_d,
        "CH1.FI103_E_FEED": f_e,
        "CH1.FI104_AC_FEED": f_c,
        "CH1.FI105_RECYCLE": 26.90 + recycle,
        "CH1.FI106_REACTOR_FEED": 42.34 + (f_a - 0.2505) + (f_c - 9.348) + 3.6e-4 * (f_d - 3664.0)
        + 2.4e-4 * (f_e - 4509.0) + recycle,
        "CH1.PI107_REACTOR_PRESS": 2705.0 + pr,
        "CH1.LI108_REACTOR_LEVEL": 1.500 + lr,
        "CH1.TI109_REACTOR_TEMP": 120.40 + tr,
        "CH1.FI110_PURGE": f_purge,
        "CH1.TI111_SEP_TEMP": 80.10 + ts,
        "CH1.LI112_SEP_LEVEL": 1.000 + ls,
        "CH1.PI113_SEP_PRESS": 2633.7 + p_sep,
        "CH1.FI114_SEP_UNDERFLOW": f_sep,
        "CH1.LI115_STRIP_LEVEL": 0.800 + lt,
        "CH1.PI116_STRIP_PRESS": 3102.2 + 0.6 * p_sep + 2.0 * slow(d["sth"], 0.2),
        "CH1.FI117_PRODUCT": f_prod,
        "CH1.TI118_STRIP_TEMP": 65.73 + 0.4 * slow(d["sth"], 0.3) + 0.2 * ts,
        "CH1.FI119_STEAM": 230.3 * np.sqrt(1.0 + d["sth"] / 100.0),
        "CH1.JI120_COMPRESSOR": 341.4 + 6.0 * recycle + 0.05 * p_sep,
        # Jacket and condenser as heat exchangers whose effectiveness falls as more water flows
        "CH1.TI121_REACTOR_CW_OUT": _outlet(35.0 + d["tcw"], 120.40 + tr, 1.196 * 41.11 / (41.11 + v_rcw)),
        "CH1.TI122_COND_CW_OUT": _outlet(40.0 + d["tcd"], 80.10 + ts, 2.66 * 18.11 / (18.11 + v_ccw)),
    }
    values = {tag: truth[tag] + inputs.noise[tag] for tag in _MEASUREMENTS}

    lagged_d, lagged_e = slow(f_d - 3664.0, 0.3), slow(f_e - 4509.0, 0.3)
    kin_1h, xa_slow = slow(d["kin"], 1.0), slow(d["xa"], 0.8)
    compositions = {
        "FEED": {"A": ya, "B": 0.64 * yb, "C": -0.8 * slow(d["xa"], 0.5) + 0.3 * d["kin"], "D": 0.0019 * lagged_d,
                 "E": 0.0021 * lagged_e, "F": 0.04 * kin_1h},
        "PURGE": {"A": 1.02 * ya + 0.1 * xa_slow, "B": yb, "C": -0.7 * xa_slow + 0.35 * d["kin"],
                  "D": 0.0004 * lagged_d, "E": 0.002 * lagged_e, "F": 0.06 * kin_1h, "G": 0.05 * yg,
                  "H": -0.04 * yg},
        "PRODUCT": {"D": 1e-5 * lagged_d, "E": 3e-4 * lagged_e, "F": 0.004 * slow(d["kin"], 1.5), "G": yg,
                    "H": -0.95 * yg},
    }
    holds = _holds(clock)
    for tag in _ANALYSER_TAGS:
        stream, component = tag.rsplit("_", 2)[-2:]
        measured = _ANALYSER_TAGS[tag][2] + compositions[stream][component] + inputs.noise[tag]
        values[tag] = measured[holds[tag]]

    # A linear valve passes flow ~ opening * sqrt(pressure drop): each flow loop opens its valve to what the flow
    # it is asked for and the drop across the valve need (the A feed's supply is regulated).
    drops = {"CH1.V301_D_FEED_VALVE": d["hdr"], "CH1.V302_E_FEED_VALVE": d["hdr"], "CH1.V303_A_FEED_VALVE": 0.0,
             "CH1.V304_AC_FEED_VALVE": d["hdr"], "CH1.V306_PURGE_VALVE": p_sep / 26.337,
             "CH1.V307_SEP_LIQUID_VALVE": d["dpl"], "CH1.V308_PRODUCT_VALVE": d["dpp"]}
    for tag, drop in drops.items():
        _, opening, flow = _VALVES[tag]
        relative_flow = truth[flow] / _MEASUREMENTS[flow][2]
        values[tag] = opening * relative_flow / np.sqrt(1.0 + drop / 100.0) + inputs.noise[tag]
    values["CH1.V310_REACTOR_CW_VALVE"] = 41.11 + v_rcw + inputs.noise["CH1.V310_REACTOR_CW_VALVE"]
    values["CH1.V311_COND_CW_VALVE"] = 18.11 + v_ccw + inputs.noise["CH1.V311_COND_CW_VALVE"]
    for tag in _FIXED_VALVES:
        values[tag] = np.full(n, _VALVES[tag][1])
    return values


def _outlet(inlet: np.ndarray, hot: np.ndarray, transfer_units: np.ndarray) -> np.ndarray:
    return inlet + (1.0 - np.exp(-transfer_units)) * (hot - inlet)


def _disturbed(d: dict[str, np.ndarray], fault: ActiveFault, clock: Clock, rng) -> dict[str, np.ndarray]:
    """The disturbances under a process fault (the sticking valve acts in its loop instead)."""
    n, m = clock.n, fault.magnitude
    inside = fault.window(n)
    if fault.type == "feed_composition_step":
        d["xa"] = d["xa"] + m * inside
    elif fault.type == "coolant_temperature_step":
        d["tcw"] = d["tcw"] + m * inside
    elif fault.type == "disturbance_variation":
        wander = np.zeros(n)
        wander[fault.first : fault.last + 1] = ou(rng, fault.last - fault.first + 1, 0.25, m, clock.dt_h)
        d["tcd"] = d["tcd"] + wander
    elif fault.type == "kinetics_drift":
        elapsed = clock.hours - clock.hours[fault.first]
        span = max(clock.hours[fault.last] - clock.hours[fault.first], clock.dt_h)
        d["kin"] = d["kin"] - m * inside * (elapsed + clock.dt_h) / (span + clock.dt_h)
    return d


CHEM_PROCESS = Plant(
    tags=TAGS,
    operating_tags=("CH1.FI117_PRODUCT", "CH1.JI120_COMPRESSOR"),
    cadence=pd.Timedelta("3min"),
    span=pd.Timedelta(days=30),
    fault_tags=tuple(_MEASUREMENTS),
    correlation_pair=("CH1.V301_D_FEED_VALVE", "CH1.FI102_D_FEED"),
    faults={
        "feed_composition_step": ProcessFault(
            ("CH1.AI203_FEED_C", "CH1.FI101_A_FEED", "CH1.V303_A_FEED_VALVE"), "mol % of A in the A+C feed",
            24.0, (0.8, 1.5)),
        "coolant_temperature_step": ProcessFault(
            ("CH1.TI109_REACTOR_TEMP", "CH1.TI121_REACTOR_CW_OUT", "CH1.V310_REACTOR_CW_VALVE"),
            "K on the reactor cooling water inlet", 24.0, (2.0, 5.0)),
        "disturbance_variation": ProcessFault(
            ("CH1.TI111_SEP_TEMP", "CH1.TI122_COND_CW_OUT", "CH1.V311_COND_CW_VALVE"),
            "K, standard deviation of extra condenser cooling water inlet variation", 24.0, (0.8, 1.5)),
        "kinetics_drift": ProcessFault(
            ("CH1.AI206_FEED_F", "CH1.V310_REACTOR_CW_VALVE", "CH1.V304_AC_FEED_VALVE"),
            "% catalyst activity lost by the window's end", 48.0, (1.0, 3.0)),
        "valve_sticking": ProcessFault(
            ("CH1.TI109_REACTOR_TEMP", "CH1.V310_REACTOR_CW_VALVE"),
            "% of travel the reactor cooling water valve sticks by", 24.0, (1.0, 2.5)),
    },
    quanta={},
    draw=_draw,
    signals=_signals,
    holds=_holds,
)
