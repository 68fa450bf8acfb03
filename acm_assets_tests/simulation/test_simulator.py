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


# Digests of the three machines' output (frame, index, state, faults, tags) with the default arguments, recorded
# before the process plants, the sample counts and the cadence-free fault schedule were added. They pin the
# machines bit for bit; an intended change to a machine, or a numpy whose random streams differ, updates them.
# FD_FAN's were re-recorded on 2026-12-03, when the CI host became an AMD EPYC without AVX-512: numpy's SIMD
# dispatch moved the last bits of FD_FAN's output, with the same code and numpy (the other machines did not).
MACHINE_DIGESTS = {
    ("FD_FAN", "10min"): (
        "21cbb7519930207cf5a48e6f177691871321feada8dbf50bdf76473581a865d0",
        "8ee44111fd16f30411a2959c8d2f2d205e1d59001312eb2c1367e831c682d982",
        "1ad82cab4f06bb362432d9ee911a57a14fd361e9cef4091a30697e63d67a725c",
        "d3f00e335438c1aedcee1ced84d446568cfe32552c85843ddda85576506a646c",
        "b9cc7414771ad1450f73e78d169a61a5159238ed3167121f474311d1d12929c8",
    ),
    ("FD_FAN", "1min"): (
        "978a59fc26c499c6ba8bddd0a878ae39730e2277ca3ac1a7979346e5161f22a4",
        "2b6357c4ed0bf49cdf913e4a0236f2105c112ed78f9e52f8e07a4ddf051e8dc5",
        "0de0984c61cc36b7cd4e79ac7546915d552c45a171d14f95e7fcda13fdf96cca",
        "319576b2d81a428d49cde0a46042b0d2ff11502c9d74a2e7b6ce54c78fc944fa",
        "3584759120902e61ae3b3f19c214bc01b87cbb3cd39439117b18e9c08e5a1e9e",
    ),
    ("COND_PUMP", "10min"): (
        "fc9b72383a2aff606b2b03f439129c1287c3f19c297170066e7b2687d2deb479",
        "baf9aeee6b062a6f35f753daa383b0f95345b2500e986520d999760a0671b32c",
        "3a167fc17a777cbfbcaf999f9da8243b9352730c69ab39bdcfb9996d81260b6c",
        "4d5b79aab5828ec14add970f8b257b8d53486c60f76b23942f6ae3d2231210c4",
        "9e8ee72946f9185964e86d2fca0f8e1ac0654dff34e532e5e17d72efcfe73e5b",
    ),
    ("COND_PUMP", "1min"): (
        "8d129ff08024edf8da32576b72630755f19650122041fb8d12919231e5a4c039",
        "2f592e35cb5c99b06088927995227dc7e3a57ec5f7401a8b920d99396576285b",
        "882f441db9747fd32224a362967589788c774d3ffbe7d7a11c7bd5f3a4994896",
        "aaa6e1cf6ea028b32e4f2ffb91ab38ac5937963b9fdde0ebe776678cc5446243",
        "f7744815d29f0ca57e83d820bfc58c73dc7d1bc8ff58b8c66d286d7dee561e0b",
    ),
    ("GAS_TURBINE", "10min"): (
        "610776f87f554bfbfa05b498b798581675b25a108ce91343c8a621129fba4409",
        "6bea72a3ac4a12d0b0f94b7ab1564901e36872b603669ae9e41caa7c55cadc79",
        "d460d8bc1ab3915eecb3b094e055a59c0871d2fb65acfcbdfa7951eac51b5324",
        "c129204c6a97526a58d530dbb4e2bd265bc6a0de40f9bb4e677043af7dd06c04",
        "9ba4dfb3c31f062888498627f097cf560ba7ac90ca22d2641a0dade7cea159bf",
    ),
    ("GAS_TURBINE", "1min"): (
        "364d5b3cbe979909db0c2d4c4d9616dd46ac0c34bedd102fb0d6786c75ee6ed9",
        "700465e6df664dc0a6d568ef7969e9865147643e43ce0a1dcfe38b81f2ae78ff",
        "a8aef027d606d3967a5eabf191954422d4673879775f03dc4a773de5077e0371",
        "199256b880d528f79b342d40bbfc3ed16e90e2bdba669c6da5ef6c769d948bed",
        "35cebfbefad7b6ab33d5dd070a9b27673b78afaedb38f4d3d94dc893b0124094",
    ),
}


def _digest(sim) -> str:
    h = hashlib.sha256()
    frame = sim.frame
    h.update(np.ascontiguousarray(frame.to_numpy()).tobytes())
    h.update(frame.index.asi8.tobytes())
    h.update(repr(list(frame.columns)).encode())
    h.update(repr(frame.index.name).encode())
    h.update(str(frame.index.tz).encode())
    h.update(np.asarray(sim.state.cat.codes).tobytes())
    h.update(repr(list(sim.state.cat.categories)).encode())
    rows = [(r.fault_id, r.type, r.start.value, r.end.value, tuple(r.tags), float(r.magnitude))
            for r in sim.faults.itertuples()]
    h.update(repr(rows).encode())
    h.update(repr(sim.faults.dtypes.to_dict()).encode())
    h.update(repr(sim.operating_tags).encode())
    h.update(repr(sim.tag_info).encode())
    return h.hexdigest()


@pytest.mark.parametrize(("equipment_type", "cadence"), list(MACHINE_DIGESTS))
def test_machines_are_bit_identical_to_before_the_plants(equipment_type, cadence):
    digests = [_digest(simulate(equipment_type, cadence=cadence, seed=seed)) for seed in range(5)]
    assert digests == list(MACHINE_DIGESTS[equipment_type, cadence])


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
