import numpy as np
import pandas as pd
import pytest

from acm_assets.simulation.simulator import EQUIPMENT_TYPES, FAULT_TYPES, FaultSpec, equipment_tags, simulate


@pytest.fixture(scope="module", params=EQUIPMENT_TYPES)
def pair(request):
    """The same simulation with the default faults and without any."""
    faulty = simulate(request.param, days=120, seed=3)
    clean = simulate(request.param, days=120, seed=3, faults=None)
    return faulty, clean


def test_same_seed_is_bit_identical_and_other_seeds_differ():
    a = simulate("FD_FAN", days=20, seed=11, faults_after="2024-01-10")
    b = simulate("FD_FAN", days=20, seed=11, faults_after="2024-01-10")
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    pd.testing.assert_frame_equal(a.faults, b.faults, check_exact=True)
    pd.testing.assert_series_equal(a.state, b.state)
    c = simulate("FD_FAN", days=20, seed=12, faults_after="2024-01-10")
    assert not np.array_equal(a.frame.to_numpy(), c.frame.to_numpy())


def test_frame_shape_index_and_tags(pair):
    faulty, _ = pair
    frame = faulty.frame
    assert len(frame) == 120 * 144
    assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index.tz) == "UTC"
    assert frame.index.name == "EntryDateTime" and frame.index.is_monotonic_increasing
    assert (frame.index[1:] - frame.index[:-1] == pd.Timedelta("10min")).all()
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert np.isfinite(frame.to_numpy()).all()
    assert list(frame.columns) == list(equipment_tags(faulty.equipment_type))
    assert set(faulty.operating_tags) <= set(frame.columns)
    assert faulty.state.index.equals(frame.index)


def test_states_are_sane(pair):
    _, clean = pair
    state, frame = clean.state, clean.frame
    assert set(state.unique()) == {"off", "startup", "running", "shutdown"}
    assert 0.5 < (state == "running").mean() < 0.98
    for tag in clean.operating_tags:
        running_level = frame.loc[state == "running", tag].median()
        assert frame.loc[state == "off", tag].abs().median() < 0.05 * running_level
    # a start-up leads from off to running, a shut-down from running to off
    codes = state.cat.codes.to_numpy()
    changes = [(a, b) for a, b in zip(codes[:-1], codes[1:]) if a != b]
    allowed = {(2, 3), (3, 0), (0, 1), (1, 2), (3, 1), (2, 0), (0, 2)}  # ramps may be shorter than a cadence
    assert set(changes) <= allowed


def test_temperatures_cool_down_while_off_and_lag_the_load():
    sim = simulate("COND_PUMP", days=60, seed=5, faults=None)
    temp = sim.frame["CP1.TT103_DE_BEARING_TEMP"]
    off = sim.state == "off"
    # within each off period the bearing cools monotonically on average (exponential decay towards ambient)
    block = (off != off.shift()).cumsum()[off]
    longest = block.value_counts().idxmax()
    cooling = temp[off][block == longest]
    assert cooling.iloc[0] - cooling.iloc[-1] > 10.0
    first_hour, later = cooling.iloc[:6].diff().mean(), cooling.iloc[-6:].diff().mean()
    assert first_hour < later  # faster at the start: exponential, not linear
    running = sim.state == "running"
    assert sim.frame.loc[running].corr().loc["CP1.JT101_MOTOR_POWER", "CP1.FT108_FLOW"] > 0.9


def test_gas_turbine_oil_is_regulated_while_running_and_follows_the_weather_only_when_stopped():
    """As in the reference export: LOTEMP1 runs at the same temperature in summer and winter."""
    sim = simulate("GAS_TURBINE", days=366, seed=1, faults=None)
    oil, state, month = sim.frame["LOTEMP1"], sim.state, sim.frame.index.month
    settled = (state == "running") & (state.shift(36) == "running")  # and running 6 h before
    hottest_running = oil[settled].groupby(month[settled]).quantile(0.99)  # load-driven, not weather-driven
    assert hottest_running.max() - hottest_running.min() < 1.0
    stopped = (state == "off") & (state.shift(36) == "off")
    assert oil[stopped & (month == 7)].median() > oil[stopped & (month == 1)].median() + 3.0


def test_labels_match_data(pair):
    faulty, clean = pair
    diff = faulty.frame.to_numpy() != clean.frame.to_numpy()
    inside_any = np.zeros(len(clean.frame), dtype=bool)
    for fault in faulty.faults.itertuples():
        rows = (clean.frame.index >= fault.start) & (clean.frame.index <= fault.end)
        assert rows.any()
        inside_any |= rows
        changed = fault.tags[-1:] if fault.type == "correlation_break" else fault.tags
        for tag in changed:
            tag_diff = diff[rows, clean.frame.columns.get_loc(tag)]
            if fault.type == "spikes":
                assert tag_diff.any() and not tag_diff.all()
            else:
                assert tag_diff.all(), (fault.type, tag)
        untouched = [c for c in clean.frame.columns if c not in fault.tags]
        others = faulty.faults[faulty.faults.index != fault.Index]
        overlapping = {t for o in others.itertuples() if o.start <= fault.end and o.end >= fault.start for t in o.tags}
        for tag in set(untouched) - overlapping:
            assert not diff[rows, clean.frame.columns.get_loc(tag)].any()
    assert not diff[~inside_any].any()
    assert (faulty.state == clean.state).all()


def test_default_schedule_has_every_fault_type_in_running_periods_after_the_bound(pair):
    faulty, _ = pair
    faults = faulty.faults
    assert list(faults.columns) == ["fault_id", "type", "start", "end", "tags", "magnitude"]
    assert sorted(faults["type"]) == sorted(FAULT_TYPES)
    index = faulty.frame.index
    bound = index[0] + (index[-1] - index[0]) * 2 / 3
    assert (faults["start"] >= bound).all()
    assert (faults["end"] >= faults["start"]).all()
    for fault in faults.itertuples():
        assert (faulty.state.loc[fault.start : fault.end] == "running").all()
    ordered = faults.sort_values("start")
    assert (ordered["start"].iloc[1:].to_numpy() > ordered["end"].iloc[:-1].to_numpy()).all()


def test_magnitudes_are_realistic(pair):
    faulty, clean = pair
    running = clean.frame[clean.state == "running"]
    for fault in faulty.faults.itertuples():
        if fault.type in ("step", "drift", "spikes", "bearing_degradation"):
            assert 2.0 <= abs(fault.magnitude) <= 7.0
        tag = fault.tags[-1]
        window = slice(fault.start, fault.end)
        shift = (faulty.frame.loc[window, tag] - clean.frame.loc[window, tag]).abs().max()
        assert shift <= 9.0 * running[tag].std()
        if fault.type == "step":
            assert shift == pytest.approx(abs(fault.magnitude) * running[tag].std(), rel=1e-6)
        if fault.type == "drift":
            steps = (faulty.frame.loc[window, tag] - clean.frame.loc[window, tag]).diff().dropna()
            assert (steps > 0).all() if fault.magnitude > 0 else (steps < 0).all()


def test_faults_after_moves_the_schedule():
    sim = simulate("GAS_TURBINE", days=90, seed=2, faults_after="2024-02-15")
    assert (sim.faults["start"] >= pd.Timestamp("2024-02-15", tz="UTC")).all()
    assert sorted(sim.faults["type"]) == sorted(FAULT_TYPES)


def test_explicit_fault_list_is_applied_exactly():
    spec = FaultSpec("stuck", "2024-01-05 00:00", "2024-01-05 06:00", ("FD1.06T32_BEARING_TEMP",), 0.0)
    sim = simulate("FD_FAN", days=10, seed=1, faults=[spec])
    window = sim.frame.loc["2024-01-05 00:00":"2024-01-05 06:00", "FD1.06T32_BEARING_TEMP"]
    assert window.nunique() == 1 and len(window) == 37
    before = sim.frame.loc[:"2024-01-04 23:50", "FD1.06T32_BEARING_TEMP"].iloc[-1]
    assert window.iloc[0] == before
    assert sim.faults.loc[0, "start"] == pd.Timestamp("2024-01-05", tz="UTC")
    assert sim.faults.loc[0, "tags"] == ["FD1.06T32_BEARING_TEMP"]
    assert simulate("FD_FAN", days=10, seed=1, faults=[]).faults.empty


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"equipment_type": "BOILER"}, "unknown simulated equipment type 'BOILER'"),
        ({"faults": "some"}, "faults must be"),
        ({"faults": [FaultSpec("melt", "2024-01-02", "2024-01-03", ("DWATT",), 1.0)]}, "unknown fault type 'melt'"),
        ({"faults": [FaultSpec("step", "2024-01-02", "2024-01-03", ("NOPE",), 1.0)]}, "unknown or missing tags"),
        ({"faults": [FaultSpec("step", "2024-01-03", "2024-01-02", ("DWATT",), 1.0)]}, "is empty or outside"),
        (
            {"faults": [FaultSpec("correlation_break", "2024-01-02", "2024-01-03", ("DWATT",), 1.0)]},
            "needs exactly two tags",
        ),
        (
            {
                "faults": [FaultSpec("step", "2024-01-02", "2024-01-03", ("DWATT",), 1.0)],
                "faults_after": "2024-01-04",
            },
            "before faults_after",
        ),
        ({"days": 3, "faults_after": "2024-01-03 20:00"}, "not enough running time"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    kwargs = {"equipment_type": "GAS_TURBINE", "days": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        simulate(kwargs.pop("equipment_type"), **kwargs)
