import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from acm_assets.simulation.simulator import (
    EQUIPMENT_TYPES,
    FAULT_TYPES,
    PROCESS_TYPES,
    SENSOR_FAULT_TYPES,
    SIMULATED_TYPES,
    FaultSpec,
    equipment_tags,
    fault_run,
    fault_types,
    healthy_run,
    process_faults,
    simulate,
)


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


# The three machines' output with the default arguments, as recorded before the process plants, the sample
# counts and the cadence-free fault schedule were added: per seed, a digest of everything discrete (index,
# columns, missing cells, states, faults, tags) and two weighted moments of the values. The values are compared
# to 1e-11, not bit for bit: numpy's SIMD dispatch (AVX-512 or not) moves the last bits of cos and exp from one
# host to the next, while any change to a machine moves the moments by far more. An intended change to a
# machine, or a numpy whose random streams differ, updates them.
MACHINE_RECORDS = {
    ('FD_FAN', '10min'): (
        ("6ee6e419c3b8d162c99f508581f81ffc367fb2cf210598848307db68dedf93df", 13328667.070072988, 2499477547.997834),
        ("58dfb51a765faf8197a4a0db31beafa9a2ec27d00d9edf55855baae8ea71ab74", 13200390.929540563, 2498962978.4747467),
        ("0dc6ca386148da651f36ce226f6b83da45e455538c8af7a61578c20eb498175b", 12947689.562783029, 2353140025.006303),
        ("92da7ccc2605559a9982d9027bd00cc9cc07c2f73a462d16566600d6c1664a43", 13273290.145687258, 2487362777.5725093),
        ("25f146e1ad62ab2ae0038aa78b8fedd3d1459df3a95de66207c0b1a129eaaeb2", 13702798.168286974, 2565067422.847972),
    ),
    ('FD_FAN', '1min'): (
        ("7f0c45da3e7edb43b92898f9e8f90250d4aac9c0227dbf7fa890c8b20f27dc7c", 134480712.99230188, 25308593616.065434),
        ("6f38085f32cb8fdcc8e0e3285e2a5310ae1c580323b874f6670c502e748eacb7", 129920371.99754605, 24004103970.235172),
        ("975a9be37bf8366b643a5e346603d79a2586c6a542f6fe582a37ce019283e8c9", 130154335.1667125, 24008615490.161163),
        ("5f3ff33e1c19997a6e3c48935e436d22bcac7e6a47406565289c326caaaf03aa", 127027618.06502345, 22606122406.28269),
        ("424f74cf810195b359d01939ae4bfc50f4b097ec13ddb64e23f13d544aa3f24d", 137680509.66030353, 25945720884.575726),
    ),
    ('COND_PUMP', '10min'): (
        ("73dc96f2377b09c9be80e3c1e8552a4ce026d1855d35551f5ad965b5dcd3d3e6", 17603886.26179487, 6075866189.055445),
        ("b613810a787979d5d387e94ebd8db7b05984184e81a372bc5a31334b9f480a55", 17047998.53578654, 5854121184.320846),
        ("141b75cdd1f625ab2d892dbd6a43c2754f8146c91d9e9c9aea90a8c204a62445", 17087499.985304214, 5759763315.758999),
        ("3893dc1649bc952ac5fa3790166d66523068f36ecc55dabd0fa7582e6e55201c", 16909271.912865765, 5832709087.882768),
        ("1f457dfeb5a822f1c27fc19c66eff7d0445998627148eedda96cda3bbb84992c", 17765324.442942206, 6249384807.736436),
    ),
    ('COND_PUMP', '1min'): (
        ("ff4c4e3478213c296af77676d3afa7800a10259b996370d5f01cd04cf081afc7", 176970335.1347127, 61504105362.732025),
        ("a070489d7e9ce80d50c95c5f17dc90f5e67eadbe3293b0a46eaf1164fae019c2", 171921535.02825052, 59754608441.03313),
        ("24c1a85aad136508b1c75ea2b6b2a44ba64f0a9a6cf13a5dc07abb7e4f96ae91", 173161035.02509224, 59168020556.89881),
        ("8445e8ee8fb793773c45dfc7d6f32ff3b8dc9d0b535213401c6affa30f10bdc0", 170426912.35540977, 59285688377.9618),
        ("769511d4cc60df0110290f3fabcbb0de1667ba55ead6918224eb768c20e23e47", 174086692.2439643, 59678156730.32849),
    ),
    ('GAS_TURBINE', '10min'): (
        ("e954c852a80ccf9056b92b6830992aff9e299d80f5ac6b9296711069db258414", 14934319.04420184, 2331332850.920143),
        ("23ecda89d81df9b457c84694d351f6031050b22e3af247d57005ac32c44760c9", 15115208.820013694, 2373068797.483012),
        ("69ab79f339885beff942f1c0db075f9ad545bd63ac8b20354464966fdd8440cc", 14970001.997960392, 2339960706.871309),
        ("ba7512de3b35fc5904afabfbba0954b74b8a07fee1a39d73fd77d628b1d3da52", 15239163.722812839, 2391744007.5874934),
        ("12d88e9e2d31f492cb3217d4433281baf70274a42d9b90db97a1e042cea636de", 14743832.831349818, 2298128546.720465),
    ),
    ('GAS_TURBINE', '1min'): (
        ("cde2b43646cfe9e8512060f6befa2414c539633fb4d2f229e9d8e21f382d0769", 149339477.67816937, 23314811086.56724),
        ("76f60e866d7e4c3a93bf2d06e48780675ce74e1c4f0d29dac06703569e4bab6c", 150840233.40605062, 23635360734.534306),
        ("0fb5180d2429802e728048e2f0ef827d09cdf07f7714d052d6fa58e7fdeddec9", 149632904.15282965, 23377636890.49078),
        ("0e08c2d4cc8ff60054c08defb8a826d6770e4cddc1c0f251f174c24e5efc3bf2", 152913360.56121644, 24077802751.032345),
        ("619883a470451587f9fd06a2b03680e8c4e7debbf5cdb561c2f26d51a3f6b917", 146883936.5266501, 22813978790.097996),
    ),
}


def _discrete_digest(sim) -> str:
    h = hashlib.sha256()
    frame = sim.frame
    h.update(frame.index.asi8.tobytes())
    h.update(repr(list(frame.columns)).encode())
    h.update(repr(frame.index.name).encode())
    h.update(str(frame.index.tz).encode())
    h.update(np.asarray(np.isnan(frame.to_numpy())).tobytes())
    h.update(np.asarray(sim.state.cat.codes).tobytes())
    h.update(repr(list(sim.state.cat.categories)).encode())
    rows = [(r.fault_id, r.type, r.start.value, r.end.value, tuple(r.tags), float(r.magnitude))
            for r in sim.faults.itertuples()]
    h.update(repr(rows).encode())
    h.update(repr(sim.faults.dtypes.to_dict()).encode())
    h.update(repr(sim.operating_tags).encode())
    h.update(repr(sim.tag_info).encode())
    return h.hexdigest()


def _moments(sim) -> tuple[float, float]:
    values = sim.frame.to_numpy()
    weights = np.linspace(0.5, 1.5, values.shape[1])
    return float(np.nansum(values * weights)), float(np.nansum(values * values * weights))


@pytest.mark.parametrize(("equipment_type", "cadence"), list(MACHINE_RECORDS))
def test_machines_match_their_record_from_before_the_plants(equipment_type, cadence):
    for seed, (digest, first, second) in enumerate(MACHINE_RECORDS[equipment_type, cadence]):
        sim = simulate(equipment_type, cadence=cadence, seed=seed)
        assert _discrete_digest(sim) == digest, seed
        np.testing.assert_allclose(_moments(sim), (first, second), rtol=1e-11, err_msg=f"seed {seed}")


def _digest(sim) -> str:
    """Every bit of one simulation (for same-host reproducibility)."""
    return hashlib.sha256(_discrete_digest(sim).encode() + np.ascontiguousarray(sim.frame.to_numpy()).tobytes()).hexdigest()


@pytest.mark.parametrize("equipment_type", SIMULATED_TYPES)
def test_every_type_is_reproducible_and_seeds_differ(equipment_type):
    a = simulate(equipment_type, samples=2000, seed=4)
    b = simulate(equipment_type, samples=2000, seed=4)
    assert _digest(a) == _digest(b)
    assert not np.array_equal(a.frame.to_numpy(), simulate(equipment_type, samples=2000, seed=5).frame.to_numpy())


def test_type_tuples():
    assert EQUIPMENT_TYPES == ("FD_FAN", "COND_PUMP", "GAS_TURBINE")
    assert PROCESS_TYPES == ("CHEM_PROCESS", "PUMP_RIG")
    assert SIMULATED_TYPES == EQUIPMENT_TYPES + PROCESS_TYPES
    assert fault_types("FD_FAN") == FAULT_TYPES
    assert fault_types("CHEM_PROCESS")[: len(SENSOR_FAULT_TYPES)] == SENSOR_FAULT_TYPES
    assert set(fault_types("PUMP_RIG")) - set(SENSOR_FAULT_TYPES) == set(process_faults("PUMP_RIG"))


@pytest.mark.parametrize(
    ("equipment_type", "cadence", "rows"),
    [("FD_FAN", "10min", 17280), ("CHEM_PROCESS", "3min", 14400), ("PUMP_RIG", "1s", 86400)],
)
def test_each_type_has_its_own_cadence_and_length_by_default(equipment_type, cadence, rows):
    frame = simulate(equipment_type, faults=None).frame
    assert len(frame) == rows
    assert (frame.index[1:] - frame.index[:-1] == pd.Timedelta(cadence)).all()


def test_samples_count_rows_at_any_cadence():
    for cadence in ("1s", "1min", "1h"):
        frame = simulate("COND_PUMP", samples=437, cadence=cadence, faults=None).frame
        assert len(frame) == 437 and frame.index[1] - frame.index[0] == pd.Timedelta(cadence)
    by_days = simulate("FD_FAN", days=300 / 144, faults=None).frame
    assert simulate("FD_FAN", samples=300, faults=None).frame.equals(by_days)


# ------------------------------------------------------------------ the default schedule at every cadence


@pytest.mark.parametrize("equipment_type", EQUIPMENT_TYPES)
@pytest.mark.parametrize(
    ("cadence", "span"),
    [("1s", {"samples": 400}), ("1s", {"days": 1}), ("1min", {"samples": 400}), ("1min", {"days": 90}),
     ("10min", {"samples": 400}), ("10min", {"days": 90}), ("1h", {"samples": 400}), ("1h", {"days": 90})],
)
def test_default_faults_are_placed_at_every_cadence_and_span(equipment_type, cadence, span):
    sim = simulate(equipment_type, cadence=cadence, seed=0, **span)
    _assert_default_schedule(sim, FAULT_TYPES)


@pytest.mark.parametrize("equipment_type", PROCESS_TYPES)
@pytest.mark.parametrize(("cadence", "span"), [("1s", {"samples": 500}), ("3min", {"samples": 960}),
                                               ("1min", {"days": 30}), ("1h", {"days": 90})])
def test_plants_default_faults_are_placed_at_every_cadence(equipment_type, cadence, span):
    sim = simulate(equipment_type, cadence=cadence, seed=1, **span)
    _assert_default_schedule(sim, fault_types(equipment_type))


def _assert_default_schedule(sim, types):
    faults, index, cadence = sim.faults, sim.frame.index, sim.frame.index[1] - sim.frame.index[0]
    assert list(faults["type"]) == list(types)
    assert (faults["start"] >= index[0] + (index[-1] - index[0]) * 2 / 3).all()
    assert ((faults["end"] - faults["start"]) / cadence + 1 >= 10).all()  # at least 10 samples each
    assert (faults["start"].iloc[1:].to_numpy() > faults["end"].iloc[:-1].to_numpy()).all()
    for fault in faults.itertuples():
        assert (sim.state.loc[fault.start : fault.end] == "running").all()


def test_windows_follow_the_span_after_faults_after():
    """Where the nominal windows (hours to days) do not fit, they shrink together with the span."""
    sim = simulate("FD_FAN", cadence="1s", samples=3000, seed=0)
    lengths = ((sim.faults["end"] - sim.faults["start"]) / pd.Timedelta("1s") + 1).set_axis(sim.faults["type"])
    assert lengths["drift"] / lengths["step"] == pytest.approx(96 / 18, rel=0.1)
    assert lengths["spikes"] / lengths["stuck"] == pytest.approx(24 / 12, rel=0.1)
    assert lengths.min() >= 10 and lengths.sum() > 0.7 * 1000  # most of the last third holds a fault


def test_too_little_running_time_after_the_bound_is_an_error():
    with pytest.raises(ValueError, match="not enough running time .* at least 10 samples each"):
        simulate("GAS_TURBINE", days=1, cadence="1s", seed=4)  # the turbine is off through the last third


def test_start_ups_shorter_than_a_sample_still_show_at_1_h():
    """COND_PUMP's 12-minute start-ups fall between hourly samples; each still gets a start-up row."""
    hourly, fine = (simulate("COND_PUMP", days=120, cadence=c, seed=2, faults=None) for c in ("1h", "1min"))

    def start_ups(state):
        codes = state.cat.codes.to_numpy()
        return int(((codes[1:] == 1) & (codes[:-1] != 1)).sum())

    codes = hourly.state.cat.codes.to_numpy()
    assert start_ups(hourly.state) == start_ups(fine.state) > 10
    assert not ((codes[:-1] == 0) & (codes[1:] == 2)).any()  # never straight from off to running
    off = hourly.state == "off"
    for tag in hourly.operating_tags:
        assert hourly.frame.loc[off, tag].abs().max() < 0.05 * hourly.frame.loc[hourly.state == "running", tag].median()


# ------------------------------------------------------------------ faults on the plants


@pytest.fixture(scope="module", params=PROCESS_TYPES)
def plant_pair(request):
    """A plant with its default faults (sensor and process) and without any."""
    faulty = simulate(request.param, days=6, cadence="1min", seed=2)
    clean = simulate(request.param, days=6, cadence="1min", seed=2, faults=None)
    return faulty, clean


def test_plant_faults_change_only_their_windows(plant_pair):
    faulty, clean = plant_pair
    diff = faulty.frame.to_numpy() != clean.frame.to_numpy()
    inside_any = np.zeros(len(clean.frame), dtype=bool)
    processes = process_faults(faulty.equipment_type)
    for fault in faulty.faults.itertuples():
        rows = ((clean.frame.index >= fault.start) & (clean.frame.index <= fault.end))
        inside_any |= rows
        changed = fault.tags[-1:] if fault.type == "correlation_break" else fault.tags
        for tag in changed:
            assert diff[rows, clean.frame.columns.get_loc(tag)].any(), (fault.type, tag)
        if fault.type not in processes:  # a sensor fault touches its own tags only
            others = [c for c in clean.frame.columns if c not in fault.tags]
            assert not diff[np.ix_(rows, [clean.frame.columns.get_loc(c) for c in others])].any()
    assert not diff[~inside_any].any()
    assert set(faulty.faults["type"]) == set(fault_types(faulty.equipment_type))


@pytest.mark.parametrize("equipment_type", PROCESS_TYPES)
def test_fault_run_is_the_healthy_run_until_the_fault(equipment_type):
    healthy = healthy_run(equipment_type, 960, seed=1)
    for fault_type in process_faults(equipment_type):
        run = fault_run(equipment_type, fault_type, 960, at=160, seed=1)
        (fault,) = run.faults.itertuples()
        assert fault.start == run.frame.index[160] and fault.end == run.frame.index[-1]
        assert fault.tags == list(process_faults(equipment_type)[fault_type].tags)
        low, high = process_faults(equipment_type)[fault_type].magnitudes
        assert fault.magnitude == pytest.approx((low + high) / 2)
        pd.testing.assert_frame_equal(run.frame.iloc[:160], healthy.frame.iloc[:160], check_exact=True)
        assert not run.frame.iloc[160:].equals(healthy.frame.iloc[160:])
    window = fault_run(equipment_type, "step", 960, at=300, until=399, tags=(process_tags := list(healthy.frame)[0],),
                       seed=1)
    changed = window.frame[process_tags] != healthy.frame[process_tags]
    assert changed.iloc[300:400].all() and not changed.iloc[:300].any() and not changed.iloc[400:].any()


def test_sensor_faults_respect_what_the_historian_records():
    """A drifting analyser shows its drift only at its samples and holds it; a quantised transmitter stays on its
    grid."""
    analyser = "CH1.AI218_PRODUCT_G"
    run = fault_run("CHEM_PROCESS", "drift", 960, at=300, magnitude=4.0, tags=(analyser,), seed=3)
    held = run.frame[analyser].iloc[300:]
    assert held.diff().eq(0).mean() > 0.7  # 15-minute samples at 3-minute cadence: 4 of 5 rows repeat
    rig = fault_run("PUMP_RIG", "step", 1150, at=600, magnitude=3.0, tags=("Current",), seed=3)
    current = rig.frame["Current"]
    assert np.allclose(current / 0.01, np.round(current / 0.01), atol=1e-6)
    assert current.iloc[600:].mean() > current.iloc[:600].mean() + 2 * current.iloc[:600].std()


@pytest.mark.parametrize(
    ("equipment_type", "kwargs", "message"),
    [
        ("FD_FAN", {"faults": [FaultSpec("leak", "2024-01-02", "2024-01-03", (), 0.1)]}, "unknown fault type 'leak'"),
        ("PUMP_RIG", {"faults": [FaultSpec("bearing_degradation", "2024-01-01 00:10", "2024-01-01 00:20",
                                           ("Temperature", "Accelerometer1RMS"), 1.0)]}, "unknown fault type"),
        ("PUMP_RIG", {"faults": [FaultSpec("leak", "2024-01-01 00:10", "2024-01-01 00:20", ("Current",), 0.1)]},
         "a process fault's tags are its plant's"),
        ("PUMP_RIG", {"faults": [FaultSpec("leak", "2024-01-01 00:10", "2024-01-01 00:20", (), 0.1),
                                 FaultSpec("cavitation", "2024-01-01 00:15", "2024-01-01 00:25", (), 0.1)]},
         "overlaps another"),
        ("PUMP_RIG", {"days": 1, "samples": 100}, "days or samples, not both"),
        ("PUMP_RIG", {"samples": 1}, "samples must be a whole number of at least 2"),
        ("PUMP_RIG", {"samples": 10.5}, "samples must be a whole number"),
        ("FD_FAN", {"tag_names": "short"}, "tag_names must be one of plant, cryptic"),
    ],
)
def test_bad_plant_arguments_are_named(equipment_type, kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate(equipment_type, **{"samples": 2000, **kwargs} if "days" not in kwargs else kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("CHEM_PROCESS", "bearing_degradation", 960), {"at": 160}, "unknown fault type; choose one of step"),
        (("CHEM_PROCESS", "step", 960), {"at": 160}, "needs its tag, e.g. tags=\\('CH1.FI101_A_FEED',\\)"),
        (("CHEM_PROCESS", "coolant_temperature_step", 960), {"at": 700, "until": 600}, "0 <= at <= until < samples"),
        (("CHEM_PROCESS", "coolant_temperature_step", 960), {"at": 960}, "0 <= at <= until < samples"),
        (("FD_FAN", "drift", 960), {"at": 10, "tags": ("NOPE",)}, "unknown or missing tags"),
    ],
)
def test_bad_fault_runs_are_named(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fault_run(*args, **kwargs)


def test_process_faults_belong_to_plants():
    with pytest.raises(ValueError, match="FD_FAN is a machine, not a process plant"):
        process_faults("FD_FAN")


# ------------------------------------------------------------------ cryptic names


@pytest.mark.parametrize("equipment_type", SIMULATED_TYPES)
def test_cryptic_names_rename_every_tag_consistently(equipment_type):
    plain = simulate(equipment_type, samples=3000, seed=6)
    cryptic = simulate(equipment_type, samples=3000, seed=6, tag_names="cryptic")
    names = dict(zip(plain.frame.columns, cryptic.frame.columns))
    assert all(re.fullmatch(r"DEMO\.SIM\.[A-Z]{2}\d{3}", name) for name in names.values())
    assert len(set(names.values())) == len(names)
    np.testing.assert_array_equal(plain.frame.to_numpy(), cryptic.frame.to_numpy())
    assert cryptic.operating_tags == tuple(names[tag] for tag in plain.operating_tags)
    assert list(cryptic.faults["tags"]) == [[names[tag] for tag in tags] for tags in plain.faults["tags"]]
    pd.testing.assert_frame_equal(cryptic.faults.drop(columns="tags"), plain.faults.drop(columns="tags"))
    assert cryptic.tag_info == {names[tag]: info for tag, info in plain.tag_info.items()}
    assert equipment_tags(equipment_type, "cryptic") == cryptic.tag_info


def test_cryptic_names_follow_the_units():
    names = list(equipment_tags("FD_FAN", "cryptic"))
    assert names[:3] == ["DEMO.SIM.ZI100", "DEMO.SIM.II101", "DEMO.SIM.PI102"]  # damper %, current A, pressure kPa


def test_fault_specs_may_name_cryptic_or_plant_tags():
    cryptic = equipment_tags("COND_PUMP", "cryptic")
    plant_tag, cryptic_tag = "CP1.TT103_DE_BEARING_TEMP", list(cryptic)[5]
    runs = [simulate("COND_PUMP", days=10, seed=1, tag_names="cryptic",
                     faults=[FaultSpec("step", "2024-01-05", "2024-01-05 06:00", (tag,), 3.0)]) for tag in
            (plant_tag, cryptic_tag)]
    pd.testing.assert_frame_equal(runs[0].frame, runs[1].frame, check_exact=True)
    assert runs[0].faults.loc[0, "tags"] == [cryptic_tag]
