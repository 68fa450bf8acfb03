import json

import numpy as np
import pandas as pd
import pytest

from acm_assets.ingest.cleaning import clean_frame
from acm_assets.ingest.errors import IngestError


def _frame(times, **tags):
    return pd.DataFrame(tags, index=pd.DatetimeIndex(pd.to_datetime(times), name="EntryDateTime"))


def _regular(start="2024-01-01", periods=12, freq="10min", tz="UTC"):
    index = pd.date_range(start, periods=periods, freq=freq, tz=tz, name="EntryDateTime")
    return pd.DataFrame({"a": np.arange(periods, dtype=float), "b": np.arange(periods) * 2.0 + 1}, index=index)


def test_sorts_and_keeps_the_last_of_duplicate_timestamps():
    frame = _frame(
        ["2024-01-01 00:20", "2024-01-01 00:00", "2024-01-01 00:10", "2024-01-01 00:10"],
        a=[2.0, 0.0, 10.0, 11.0],
        b=[5.0, 3.0, 4.0, 4.5],
    )
    cleaned = clean_frame(frame, source="unit")
    assert cleaned.frame.index.is_monotonic_increasing
    assert cleaned.frame["a"].tolist() == [0.0, 11.0, 2.0]
    assert cleaned.report.dropped_rows["duplicate_timestamps"] == 1
    assert cleaned.report.rows_in == 4 and cleaned.report.rows_out == 3


def test_index_is_utc_and_naive_input_is_read_as_utc():
    cleaned = clean_frame(_regular(tz=None), source="unit")
    assert str(cleaned.frame.index.tz) == "UTC"
    assert cleaned.frame.index.name == "EntryDateTime"
    assert cleaned.frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert (cleaned.frame.dtypes == "float64").all()


def test_aware_input_is_converted_to_utc():
    cleaned = clean_frame(_regular(tz="Europe/Berlin"), source="unit")
    assert cleaned.frame.index[0] == pd.Timestamp("2023-12-31 23:00", tz="UTC")


def test_future_rows_are_dropped_and_counted():
    cleaned = clean_frame(_regular(), source="unit", now="2024-01-01 01:05")
    assert cleaned.frame.index[-1] == pd.Timestamp("2024-01-01 01:00", tz="UTC")
    assert cleaned.report.dropped_rows["future"] == 5
    assert cleaned.report.rows_out == 7


def test_default_now_drops_rows_after_the_current_time():
    frame = _regular(start=pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta("1h"), periods=24, freq="10min")
    assert clean_frame(frame, source="unit").report.dropped_rows["future"] > 0


def test_overlap_with_previous_window_is_counted_not_dropped():
    cleaned = clean_frame(_regular(), source="unit", previous_end="2024-01-01 00:30")
    assert cleaned.report.overlap_rows == 4
    assert cleaned.report.rows_out == 12


def test_constant_and_all_missing_tags_are_dropped_with_a_reason():
    frame = _regular()
    frame["flat"] = 0.64
    frame["empty"] = np.nan
    cleaned = clean_frame(frame, source="unit")
    assert list(cleaned.frame.columns) == ["a", "b"]
    assert cleaned.report.dropped_tags["flat"].startswith("constant value 0.64")
    assert cleaned.report.dropped_tags["empty"] == "all values missing"
    assert cleaned.report.missing_share["empty"] == 1.0


def test_scoring_windows_keep_their_constant_tags():
    frame = _regular()
    frame["flat"] = 1.0
    cleaned = clean_frame(frame, source="unit", drop_constant=False)
    assert "flat" in cleaned.frame.columns and cleaned.report.dropped_tags == {}


def test_cadence_is_the_median_step_and_jitter_does_not_matter():
    times = pd.date_range("2024-01-01", periods=10, freq="1h")
    times = times.where(np.arange(10) != 3, times[3] - pd.Timedelta("1min"))
    cleaned = clean_frame(_frame(times, a=np.arange(10.0)), source="unit")
    assert cleaned.report.cadence == pd.Timedelta("1h")
    assert cleaned.report.gaps == [] and cleaned.report.rows_out == 10


def test_short_gaps_are_filled_on_the_native_grid_by_time_interpolation():
    frame = _regular().drop(index=_regular().index[[3, 4]])
    cleaned = clean_frame(frame, source="unit")
    assert cleaned.report.cadence == pd.Timedelta("10min")
    assert cleaned.report.inserted_rows == 2
    assert cleaned.report.interpolated_points == 4
    assert cleaned.frame["a"].tolist() == list(np.arange(12.0))
    assert cleaned.report.segments == 1 and cleaned.segment.eq(0).all()
    assert len(cleaned.report.gaps) == 1 and cleaned.report.segment_breaks == []


def test_long_gaps_are_segment_breaks_and_never_bridged():
    frame = _regular().drop(index=_regular().index[[3, 4, 5]])
    cleaned = clean_frame(frame, source="unit")
    assert cleaned.report.inserted_rows == 0 and cleaned.report.interpolated_points == 0
    assert cleaned.report.segments == 2
    assert cleaned.segment.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert cleaned.report.segment_breaks == [
        (pd.Timestamp("2024-01-01 00:20", tz="UTC"), pd.Timestamp("2024-01-01 01:00", tz="UTC"))
    ]


def test_missing_values_follow_the_same_gap_rule():
    frame = _regular()
    frame.iloc[2:4, 0] = np.nan  # 2 missing: span of 3 cadences, filled
    frame.iloc[6:9, 0] = np.nan  # 3 missing: span of 4 cadences, left missing
    cleaned = clean_frame(frame, source="unit")
    assert cleaned.frame["a"].iloc[2:4].tolist() == [2.0, 3.0]
    assert cleaned.frame["a"].iloc[6:9].isna().all()
    assert cleaned.report.interpolated_points == 2
    assert cleaned.report.missing_share["a"] == pytest.approx(5 / 12)


def test_max_gap_cadences_is_configurable():
    frame = _regular().drop(index=_regular().index[[3, 4]])
    cleaned = clean_frame(frame, source="unit", max_gap_cadences=2)
    assert cleaned.report.segments == 2 and cleaned.report.inserted_rows == 0


def test_never_upsamples_and_each_window_has_its_own_cadence():
    train = clean_frame(_regular(freq="10min"), source="train")
    score = clean_frame(_regular(freq="1h"), source="score")
    assert train.report.cadence == pd.Timedelta("10min")
    assert score.report.cadence == pd.Timedelta("1h")
    assert score.report.rows_out == 12


def test_report_is_json_metadata():
    frame = _regular().drop(index=_regular().index[[3, 4, 5]])
    frame["flat"] = 2.0
    metadata = clean_frame(frame, source="unit", previous_end="2024-01-01").report.to_metadata()
    assert json.loads(json.dumps(metadata)) == metadata
    assert metadata["cadence_seconds"] == 600.0
    assert metadata["segment_breaks"] == [["2024-01-01T00:20:00+00:00", "2024-01-01T01:00:00+00:00"]]
    assert metadata["dropped_tags"] == {"flat": "constant value 2 on all 9 non-missing rows"}


def test_input_frame_and_report_are_not_modified():
    frame = _regular()
    first = clean_frame(frame.iloc[::-1], source="unit")
    second = clean_frame(frame, source="unit", report=first.report, now="2024-01-01 00:30")
    assert frame.index.tz is not None and frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert first.report.dropped_rows["future"] == 0
    assert second.report.dropped_rows["future"] == 8


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (pd.DataFrame({"a": [1.0]}), "DatetimeIndex"),
        (_frame(["2024-01-01", None], a=[1.0, 2.0]), "no timestamp"),
        (_frame(["2024-01-01", "2024-01-02"], a=["x", "y"]), "not numeric: ['a']"),
        (_frame(["2024-01-01"], a=[1.0]).drop(columns="a"), "no tag columns"),
        (_frame(["2024-01-01", "2024-01-02"], a=[1.0, np.inf]), "infinite values in tags ['a'] (first at 2024-01-02"),
        (_frame(["2030-01-01"], a=[1.0]), "no rows left"),
        (_frame(["2024-01-01", "2024-01-02"], a=[1.0, 1.0]), "no usable tags"),
    ],
)
def test_bad_frames_raise_naming_the_source(frame, problem):
    with pytest.raises(IngestError, match="^FD_FAN window: ") as raised:
        clean_frame(frame, source="FD_FAN window", now="2025-01-01")
    assert problem in str(raised.value)
