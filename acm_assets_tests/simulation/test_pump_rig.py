import numpy as np
import pytest

from acm_assets.simulation.simulator import fault_run, healthy_run, process_faults, simulate

SKAB_TAGS = ["Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature", "Thermocouple",
             "Voltage", "Volume Flow RateRMS"]


def test_the_rig_records_eight_tags_at_1_hz_with_quantised_electrics_and_pressure():
    frame = healthy_run("PUMP_RIG", 1150, seed=0).frame
    assert list(frame.columns) == SKAB_TAGS
    assert (frame.index[1:] - frame.index[:-1]).unique().tolist() == [np.timedelta64(1, "s")]
    for tag, step in (("Current", 0.01), ("Voltage", 0.5), ("Pressure", 0.01)):
        assert np.allclose(frame[tag] / step, np.round(frame[tag] / step), atol=1e-6), tag
        assert 3 <= frame[tag].nunique() <= 40, tag
    others = frame.drop(columns=["Current", "Voltage", "Pressure"])
    assert (others.nunique() == len(frame)).all()


def test_temperatures_warm_slowly_through_a_run():
    """The rig was started before the record: the first 400 s (the baseline) never see the later temperatures."""
    warmer = 0
    for seed in range(10):
        frame = healthy_run("PUMP_RIG", 1150, seed=seed).frame
        rise = frame.iloc[-300:].mean() - frame.iloc[:400].mean()
        warmer += rise["Temperature"] > 0 and rise["Thermocouple"] > 0
        assert rise["Thermocouple"] < 1.0 and abs(rise["Temperature"]) < 3.0  # slowly
    assert warmer >= 8


def test_the_rig_is_open_loop_so_its_tags_are_related_not_redundant():
    corr = healthy_run("PUMP_RIG", 1150, seed=2).frame.corr().abs()
    np.fill_diagonal(corr.values, 0.0)
    assert corr.max().max() < 0.9
    assert corr.loc["Accelerometer1RMS", "Accelerometer2RMS"] > 0.2  # one machine under both sensors
    assert corr.loc["Current", "Volume Flow RateRMS"] > 0.2  # the pump's power follows its flow


@pytest.mark.parametrize(
    ("fault_type", "up", "down"),
    [
        ("outlet_valve_closure", ["Pressure"], ["Volume Flow RateRMS", "Current"]),
        ("inlet_valve_closure", [], ["Pressure", "Volume Flow RateRMS", "Current"]),
        ("leak", ["Current"], ["Pressure", "Volume Flow RateRMS"]),
        ("rotor_imbalance", ["Accelerometer1RMS", "Accelerometer2RMS", "Current"], []),
        ("cavitation", ["Accelerometer1RMS"], ["Volume Flow RateRMS", "Pressure", "Current"]),
    ],
)
def test_each_rig_fault_moves_the_rig_the_physical_way(fault_type, up, down):
    healthy = healthy_run("PUMP_RIG", 1150, seed=3).frame
    run = fault_run("PUMP_RIG", fault_type, 1150, at=600, until=850, seed=3).frame
    spread = healthy.iloc[:400].std()
    shift = (run - healthy).iloc[620:851].mean() / spread
    assert (shift[up] > 0.5).all() and (shift[down] < -0.5).all(), shift.round(1).to_dict()
    assert (shift[list(process_faults("PUMP_RIG")[fault_type].tags)].abs() > 1.5).all()
    assert run.iloc[851:].equals(healthy.iloc[851:])


def test_a_valve_is_turned_over_seconds():
    healthy = healthy_run("PUMP_RIG", 1150, seed=4).frame["Volume Flow RateRMS"]
    run = fault_run("PUMP_RIG", "outlet_valve_closure", 1150, at=600, magnitude=0.2, seed=4).frame
    drop = (healthy - run["Volume Flow RateRMS"]).iloc[600:640].to_numpy()
    assert drop[:5].mean() < 0.5 * drop[25:].mean()  # closing takes about 20 s


@pytest.mark.parametrize("cadence", ["1min", "1h"])
def test_the_rig_holds_at_coarse_cadences(cadence):
    frame = simulate("PUMP_RIG", days=30, cadence=cadence, seed=5, faults=None).frame
    assert np.isfinite(frame.to_numpy()).all()
    late = frame.iloc[len(frame) // 2 :]
    assert late["Temperature"].std() < 1.5 and 60 < late["Temperature"].mean() < 80  # warmed through
    assert abs(late["Volume Flow RateRMS"].mean() - 32.0) < 0.5
