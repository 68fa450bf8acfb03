"""Golden tests on the real historian exports in ../shared/data/acm_reference (README there has the counts)."""

import pandas as pd
import pytest

from acm_assets.ingest.csv_reader import read_historian_csv

pytestmark = pytest.mark.shared_data

EXPECTED = {
    "FD_FAN_BASELINE_DATA.csv": (10_770, 9),
    "FD_FAN_BATCH_DATA.csv": (6_741, 9),
    "GAS_TURBINE_BASELINE_DATA.csv": (2_188, 16),
    "GAS_TURBINE_BATCH_DATA.csv": (723, 16),
}


@pytest.mark.parametrize(("name", "shape"), EXPECTED.items())
def test_reference_exports_load_with_exact_row_counts(reference_dir, name, shape):
    export = read_historian_csv(reference_dir / name)
    assert export.frame.shape == shape
    assert export.report.timestamp_column in ("TS", "Ts")  # found by name, byte-order mark or not
    assert export.report.rows_in == shape[0]
    assert export.report.dropped_rows == {"unparseable_timestamps": 0, "nonexistent_local_times": 0}
    assert (export.frame.dtypes == "float64").all()
    assert str(export.frame.index.tz) == "UTC"
    cleaned = export.clean(drop_constant=False)
    assert cleaned.report.dropped_rows["duplicate_timestamps"] == 0
    assert cleaned.report.dropped_rows["future"] == 0
    assert cleaned.report.rows_out == shape[0] + cleaned.report.inserted_rows


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
