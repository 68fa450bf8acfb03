"""Golden tests on the real historian exports in ../shared/data/acm_reference (README there has the counts)."""

import pandas as pd
import pytest

from acm_assets.ingest.csv_reader import read_historian_csv

pytestmark = pytest.mark.shared_data

# rows, tags, and the timestamp column: found by name (byte-order mark or not), or for MOTOR, whose
# first column is headed by the label "Point Name", as the column that parses.
EXPECTED = {
    "FD_FAN_BASELINE_DATA.csv": (10_770, 9, "TS"),
    "FD_FAN_BATCH_DATA.csv": (6_741, 9, "TS"),
    "GAS_TURBINE_BASELINE_DATA.csv": (2_188, 16, "Ts"),
    "GAS_TURBINE_BATCH_DATA.csv": (723, 16, "Ts"),
    "COND_PUMP_TRAINING_DATA.csv": (8_929, 15, "TS"),
    "COND_PUMP_FAULT_DATA.csv": (8_690, 15, "TS"),
    "MOTOR_TRAINING_DATA.csv": (8_759, 7, "Point Name"),
    "MOTOR_TEST_DATA.csv": (8_783, 7, "Point Name"),
}
MOTOR_FIRST = {"MOTOR_TRAINING_DATA.csv": "2017-01-01 01:00", "MOTOR_TEST_DATA.csv": "2018-01-01 00:00"}
MOTOR_UNITS = {
    "DEMO.SIM.II100": "A",
    "DEMO.SIM.TI101": "C",
    "DEMO.SIM.TI102": "C",
    "DEMO.SIM.XI101X": "um",
    "DEMO.SIM.XI101Y": "um",
    "DEMO.SIM.XI102X": "um",
    "DEMO.SIM.XI102Y": "um",
}


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items())
def test_reference_exports_load_with_exact_row_counts(reference_dir, name, expected):
    *shape, timestamp_column = expected
    export = read_historian_csv(reference_dir / name)
    assert export.frame.shape == tuple(shape)
    assert export.report.timestamp_column == timestamp_column
    assert export.report.rows_in == shape[0]
    assert export.report.dropped_rows == {"unparseable_timestamps": 0, "nonexistent_local_times": 0}
    assert (export.frame.dtypes == "float64").all()
    assert str(export.frame.index.tz) == "UTC"
    cleaned = export.clean(drop_constant=False)
    assert cleaned.report.dropped_rows["duplicate_timestamps"] == 0
    assert cleaned.report.dropped_rows["future"] == 0
    assert cleaned.report.rows_out == shape[0] + cleaned.report.inserted_rows


@pytest.mark.parametrize(("name", "first"), MOTOR_FIRST.items())
def test_motor_exports_read_five_header_rows_as_tag_metadata(reference_dir, name, first):
    export = read_historian_csv(reference_dir / name)
    report = export.report
    assert report.header_rows == 5
    assert report.timestamp_formats == {"%m/%d/%Y %H:%M": EXPECTED[name][0]}
    assert export.frame.index[0] == pd.Timestamp(first, tz="UTC")
    assert {tag: info.units for tag, info in export.tags.items()} == MOTOR_UNITS
    assert export.tags["DEMO.SIM.II100"].description == "MOTOR CURRENT"
    assert all(info.attributes == {"Extended Name": "", "Extended Description": ""} for info in export.tags.values())
    assert report.to_metadata()["tags"]["DEMO.SIM.XI102Y"]["units"] == "um"
    assert list(export.frame.columns) == list(MOTOR_UNITS)


def test_fd_fan_mixed_date_spellings_all_parse(reference_dir):
    export = read_historian_csv(reference_dir / "FD_FAN_BASELINE_DATA.csv")
    formats = export.report.timestamp_formats
    assert set(formats) == {"%m/%d/%Y %H:%M", "%m-%d-%Y %H:%M"} and sum(formats.values()) == 10_770
    assert export.frame.index[0] == pd.Timestamp("2012-05-21 14:00", tz="UTC")
    assert pd.Timestamp("2012-06-01 00:00", tz="UTC") in export.frame.index  # spelled 06-01-2012 00:00
    assert export.frame.index.is_monotonic_increasing


def test_fd_fan_baseline_cadence_and_its_one_gap(reference_dir):
    cleaned = read_historian_csv(reference_dir / "FD_FAN_BASELINE_DATA.csv").clean()
    report = cleaned.report
    assert report.cadence == pd.Timedelta("30min")
    assert [end - start for start, end in report.gaps] == [pd.Timedelta("90min")]
    assert report.segments == 1 and report.inserted_rows == 2


def test_fd_fan_batch_overlaps_the_baseline_by_12_rows(reference_dir):
    baseline = read_historian_csv(reference_dir / "FD_FAN_BASELINE_DATA.csv").clean()
    batch = read_historian_csv(reference_dir / "FD_FAN_BATCH_DATA.csv").clean(
        drop_constant=False, previous_end=baseline.report.end
    )
    assert batch.report.overlap_rows == 12
    assert list(batch.frame.columns) == list(baseline.frame.columns)


def test_gas_turbine_minute_jitter_gives_a_one_hour_cadence(reference_dir):
    export = read_historian_csv(reference_dir / "GAS_TURBINE_BASELINE_DATA.csv")
    assert (export.frame.index.minute == 59).any()
    cleaned = export.clean()
    assert cleaned.report.cadence == pd.Timedelta("1h")
    assert cleaned.report.gaps == [] and cleaned.report.segments == 1
