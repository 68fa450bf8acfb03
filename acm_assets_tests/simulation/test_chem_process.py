import numpy as np
import pandas as pd
import pytest

from acm_assets.simulation.simulator import fault_run, healthy_run, process_faults, simulate

PAIRS = [  # (flow, the valve its loop drives)
    ("CH1.FI101_A_FEED", "CH1.V303_A_FEED_VALVE"),
    ("CH1.FI102_D_FEED", "CH1.V301_D_FEED_VALVE"),
    ("CH1.FI103_E_FEED", "CH1.V302_E_FEED_VALVE"),
    ("CH1.FI104_AC_FEED", "CH1.V304_AC_FEED_VALVE"),
    ("CH1.FI117_PRODUCT", "CH1.V308_PRODUCT_VALVE"),
]
LOOSE_PAIRS = [("CH1.FI110_PURGE", "CH1.V306_PURGE_VALVE"), ("CH1.FI114_SEP_UNDERFLOW", "CH1.V307_SEP_LIQUID_VALVE")]
CONSTANT = ("CH1.V305_RECYCLE_VALVE", "CH1.V309_STEAM_VALVE")
REACTOR_TEMP, CW_VALVE, CW_OUT = "CH1.TI109_REACTOR_TEMP", "CH1.V310_REACTOR_CW_VALVE", "CH1.TI121_REACTOR_CW_OUT"


def test_the_plant_has_52_tags_of_three_kinds():
    frame = healthy_run("CHEM_PROCESS", 960).frame
    kinds = pd.Series(frame.columns.str.slice(4, 6)).value_counts().to_dict()
    assert frame.shape == (960, 52)
    assert kinds["AI"] == 19 and sum(frame.columns.str.contains(r"\.V3\d\d_")) == 11


@pytest.mark.parametrize("samples", [500, 960])
@pytest.mark.parametrize("seed", range(5))
def test_flows_and_their_valves_are_near_identical_pairs(samples, seed):
    corr = healthy_run("CHEM_PROCESS", samples, seed=seed).frame.corr().abs()
    for flow, valve in PAIRS:
        assert corr.loc[flow, valve] >= 0.98, (flow, valve)
    assert corr.loc["CH1.FI101_A_FEED", "CH1.V303_A_FEED_VALVE"] >= 0.9999  # the regulated A supply: ~1.000
    for flow, valve in LOOSE_PAIRS:  # the pressure across these valves moves: correlated, not redundant
        assert 0.3 < corr.loc[flow, valve] < 0.98
    upper = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1))
    assert 5 <= int((upper >= 0.98).sum().sum()) <= 7


def test_analysers_hold_each_result_from_one_dead_time_after_its_sample():
    for cadence, rows_per_feed, rows_per_product in (("3min", 2, 5), ("1min", 6, 15)):
        frame = healthy_run("CHEM_PROCESS", 600, cadence=cadence, seed=2).frame
        minutes = (frame.index - frame.index[0]) / pd.Timedelta("1min")
        for tag, period, rows in (("CH1.AI201_FEED_A", 6, rows_per_feed),
                                  ("CH1.AI218_PRODUCT_G", 15, rows_per_product)):
            changes = minutes[1:][frame[tag].diff().iloc[1:].ne(0).to_numpy()]
            assert (changes % period == 0).all() and changes.min() == 2 * period  # the first result is shown late
            assert len(changes) == len(frame) // rows - 2
    hourly = healthy_run("CHEM_PROCESS", 200, cadence="1h", seed=2).frame
    assert hourly["CH1.AI218_PRODUCT_G"].iloc[2:].diff().iloc[1:].ne(0).all()  # slower than every analyser


def test_an_analyser_sees_a_feed_step_only_after_its_dead_time():
    healthy = healthy_run("CHEM_PROCESS", 960, seed=1).frame["CH1.AI203_FEED_C"]
    stepped = fault_run("CHEM_PROCESS", "feed_composition_step", 960, at=161, seed=1).frame["CH1.AI203_FEED_C"]
    # the step lands at 8 h 03; the next sample is at 8 h 06 and is shown from 8 h 12 (row 164)
    changed = np.flatnonzero(stepped.to_numpy() != healthy.to_numpy())
    assert changed[0] == 164
    assert stepped.iloc[400:].mean() < healthy.iloc[400:].mean() - 3 * healthy.iloc[:160].std()


def test_fixed_valves_record_a_constant():
    runs = [healthy_run("CHEM_PROCESS", 960, seed=seed) for seed in range(3)]
    runs += [fault_run("CHEM_PROCESS", fault_type, 960, at=160) for fault_type in process_faults("CHEM_PROCESS")]
    for run in runs:
        assert (run.frame[list(CONSTANT)].nunique() == 1).all()
    others = runs[0].frame.drop(columns=list(CONSTANT))
    assert (others.nunique() > 150).all()  # every other tag carries noise (analysers at their sample rate)


def test_a_coolant_step_is_compensated_by_the_temperature_loop():
    healthy = healthy_run("CHEM_PROCESS", 960, seed=1).frame
    run = fault_run("CHEM_PROCESS", "coolant_temperature_step", 960, at=160, magnitude=4.0, seed=1).frame
    spread = healthy.iloc[:160].std()
    temperature = run[REACTOR_TEMP] - healthy[REACTOR_TEMP]
    assert temperature.iloc[160:200].abs().max() > 5 * spread[REACTOR_TEMP]  # the reactor warms at first
    assert temperature.iloc[300:].abs().mean() < 0.5 * spread[REACTOR_TEMP]  # then sits at its set point again
    assert abs(run[REACTOR_TEMP].iloc[300:].mean() - 120.40) < 0.02
    valve = (run[CW_VALVE] - healthy[CW_VALVE]).iloc[300:]
    assert valve.mean() == pytest.approx(4.0, rel=0.1)  # 1 % more opening per K: the valve stays shifted
    assert valve.mean() > 5 * spread[CW_VALVE]
    assert (run[CW_OUT] - healthy[CW_OUT]).iloc[300:].abs().mean() > 5 * spread[CW_OUT]


def test_every_process_fault_moves_the_tags_it_is_labelled_with():
    healthy = healthy_run("CHEM_PROCESS", 960, seed=3).frame
    spread = healthy.iloc[:160].std()
    for fault_type, fault in process_faults("CHEM_PROCESS").items():
        run = fault_run("CHEM_PROCESS", fault_type, 960, at=160, seed=3).frame
        moved = ((run - healthy).iloc[160:].abs().max() / spread)[list(fault.tags)]
        assert (moved > 3).all(), (fault_type, moved.round(1).to_dict())


def test_a_sticking_valve_sets_the_reactor_temperature_cycling():
    for cadence, samples in (("3min", 960), ("1min", 2000), ("1h", 300)):
        healthy = healthy_run("CHEM_PROCESS", samples, cadence=cadence, seed=4).frame[REACTOR_TEMP]
        run = fault_run("CHEM_PROCESS", "valve_sticking", samples, at=samples // 4, seed=4, cadence=cadence).frame
        assert run[REACTOR_TEMP].iloc[samples // 4 :].std() > 1.8 * healthy.std(), cadence


def test_random_variation_of_the_condenser_water_shows_in_its_loop():
    healthy = healthy_run("CHEM_PROCESS", 960, seed=5).frame
    run = fault_run("CHEM_PROCESS", "disturbance_variation", 960, at=160, seed=5).frame
    for tag in ("CH1.TI111_SEP_TEMP", "CH1.V311_COND_CW_VALVE"):
        assert run[tag].iloc[160:].std() > 2 * healthy[tag].iloc[160:].std()


def test_a_second_healthy_run_is_the_same_plant_but_a_short_baseline_misses_part_of_its_range():
    first, second = (healthy_run("CHEM_PROCESS", 14400, seed=seed).frame for seed in (0, 1))  # 30 days each
    varying = first.columns.drop(list(CONSTANT))
    shift = ((first[varying].mean() - second[varying].mean()).abs() / first[varying].std())
    assert (shift < 0.3).all(), shift.sort_values().tail(3).to_dict()
    baseline = first.iloc[:500]
    outside = ((second[varying] > baseline[varying].max()) | (second[varying] < baseline[varying].min())).mean()
    assert outside.max() > 0.05 and outside.median() < 0.05


@pytest.mark.parametrize("cadence", ["1s", "1h"])
def test_the_plant_holds_from_1_s_to_1_h(cadence):
    frame = simulate("CHEM_PROCESS", samples=3000, cadence=cadence, seed=2, faults=None).frame
    assert np.isfinite(frame.to_numpy()).all()
    assert frame[REACTOR_TEMP].sub(120.40).abs().max() < 0.5
    assert frame["CH1.FI101_A_FEED"].corr(frame["CH1.V303_A_FEED_VALVE"]) > 0.999
