import pandas as pd
import pytest

from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.timestamps import DEFAULT_TIMESTAMP_FORMATS, parse_timestamps


def _parse(values, **options):
    options.setdefault("source", "export.csv")
    return parse_timestamps(pd.Series(values, index=range(2, 2 + len(values))), **options)


def _utc(*values):
    return [pd.Timestamp(value, tz="UTC") for value in values]


def test_default_formats_parse_every_month_first_spelling_row_by_row():
    parsed = _parse(
        [
            "05-06-2012 14:00",
            "5/21/2012 14:00",
            "5/21/2012 9:05:07",
            "05/21/2012 09:05:07.250",
            "5-6-2012 4:00",
            "5/21/2012 2:05 PM",
            "2012-05-21T14:00:00",
            "2012-05-21 14:00",
            "  5/21/2012 14:30  ",
        ]
    )
    assert parsed.values.tolist() == _utc(
        "2012-05-06 14:00",
        "2012-05-21 14:00",
        "2012-05-21 09:05:07",
        "2012-05-21 09:05:07.250",
        "2012-05-06 04:00",
        "2012-05-21 14:05",
        "2012-05-21 14:00",
        "2012-05-21 14:00",
        "2012-05-21 14:30",
    )
    assert parsed.formats["%m-%d-%Y %H:%M"] == 2 and parsed.formats["ISO8601"] == 2


def test_the_first_row_does_not_decide_the_format():
    parsed = _parse(["01-02-2012 00:00"] + ["1/13/2012 0:00"] * 3)
    assert parsed.values.tolist() == _utc("2012-01-02", "2012-01-13", "2012-01-13", "2012-01-13")


def test_day_first_values_are_never_guessed():
    with pytest.raises(IngestError, match="'21/05/2012 14:00' \\(line 2\\)"):
        _parse(["21/05/2012 14:00"] + ["5/21/2012 14:00"] * 10)


def test_explicit_formats_replace_the_defaults():
    parsed = _parse(["21.05.2012 14:00", "22.05.2012 14:00"], formats=["%d.%m.%Y %H:%M"])
    assert parsed.values.tolist() == _utc("2012-05-21 14:00", "2012-05-22 14:00")
    with pytest.raises(IngestError, match="none of the 1 timestamps parses"):
        _parse(["5/21/2012 14:00"], formats=["%d.%m.%Y %H:%M"])


def test_declared_zone_is_converted_to_utc():
    parsed = _parse(["1/15/2024 12:00", "7/15/2024 12:00"], timezone="Europe/Berlin")
    assert parsed.values.tolist() == _utc("2024-01-15 11:00", "2024-07-15 10:00")
    assert str(parsed.values.dt.tz) == "UTC"


def test_explicit_iso_offsets_win_over_the_declared_zone():
    values = ["2024-01-15T12:00:00+02:00", "2024-01-15T12:00:00Z", "2024-01-15 12:00"]
    parsed = _parse(values, timezone="America/Chicago")
    assert parsed.values.tolist() == _utc("2024-01-15 10:00", "2024-01-15 12:00", "2024-01-15 18:00")


def test_repeated_fall_back_hour_keeps_both_instants_in_file_order():
    # US clocks fall back at 2:00 CDT on 2012-11-04: 1:00 and 1:30 occur twice.
    values = [f"11/4/2012 {time}" for time in ("0:30", "1:00", "1:30", "1:00", "1:30", "2:00")]
    parsed = _parse(values, timezone="America/Chicago")
    utc_times = ("05:30", "06:00", "06:30", "07:00", "07:30", "08:00")
    assert parsed.values.tolist() == _utc(*[f"2012-11-04 {time}" for time in utc_times])


def test_a_single_ambiguous_time_is_the_summer_time_instant():
    parsed = _parse(["11/4/2012 0:00", "11/4/2012 1:00", "11/4/2012 3:00"], timezone="America/Chicago")
    assert parsed.values.tolist()[1] == pd.Timestamp("2012-11-04 06:00", tz="UTC")


def test_nonexistent_spring_forward_times_are_invalid_not_shifted():
    # US clocks jump from 2:00 to 3:00 CST on 2012-03-11: 2:30 never happened in Chicago.
    parsed = _parse(["3/10/2012 12:00"] * 399 + ["3/11/2012 2:30"], timezone="America/Chicago")
    assert parsed.nonexistent.sum() == 1 and parsed.unparseable.sum() == 0
    assert pd.isna(parsed.values.iloc[-1])
    with pytest.raises(IngestError, match="1 match none .*, 1 do not exist in America/Chicago"):
        _parse(["3/10/2012 12:00"] * 8 + ["bad", "3/11/2012 2:30"], timezone="America/Chicago")


def test_a_few_bad_rows_are_marked_and_counted():
    values = ["5/21/2012 14:00"] * 999 + ["garbage"]
    parsed = _parse(values)
    assert parsed.unparseable.sum() == 1 and parsed.values.isna().sum() == 1


def test_more_than_half_a_percent_bad_rows_fails_with_count_and_three_examples():
    values = ["5/21/2012 14:00"] * 994 + ["bad1", "bad2", "bad3", "bad4", "", "13/13/2012 0:00"]
    with pytest.raises(IngestError) as raised:
        _parse(values, source="plant/FD_FAN.csv (column 'TS')")
    message = str(raised.value)
    assert message.startswith("plant/FD_FAN.csv (column 'TS'): 6 of 1000 timestamps (0.60%) are invalid")
    assert "'bad1' (line 996), 'bad2' (line 997), 'bad3' (line 998)" in message


def test_unknown_zone_is_an_ingest_error():
    with pytest.raises(IngestError, match="export.csv: unknown time zone 'Mars/Olympus'"):
        _parse(["5/21/2012 14:00"], timezone="Mars/Olympus")


def test_default_formats_are_month_first_and_iso_only():
    assert all(fmt == "ISO8601" or fmt.startswith("%m") for fmt in DEFAULT_TIMESTAMP_FORMATS)
