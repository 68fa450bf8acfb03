import numpy as np
import pandas as pd
import pytest

from acm_assets.ingest.csv_reader import read_historian_csv
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.tags import TagInfo


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str = "export.csv", *, encoding: str = "utf-8"):
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return write


def _lines(*lines):
    return "\n".join(lines) + "\n"


SIMPLE = _lines("TS,A,B", "5/21/2012 14:00,1,2", "5/21/2012 14:30,3,4")


def _error(path, **options) -> str:
    with pytest.raises(IngestError) as raised:
        read_historian_csv(path, **options)
    return str(raised.value)


def _utc(*values):
    return pd.DatetimeIndex([pd.Timestamp(value, tz="UTC") for value in values], name="EntryDateTime")


def test_reads_a_simple_export_into_utc_floats(write):
    export = read_historian_csv(write(SIMPLE))
    assert export.frame.index.equals(_utc("2012-05-21 14:00", "2012-05-21 14:30"))
    assert export.frame.to_dict("list") == {"A": [1.0, 3.0], "B": [2.0, 4.0]}
    assert (export.frame.dtypes == "float64").all()
    assert export.report.rows_in == export.report.rows_out == 2
    assert export.report.timestamp_column == "TS" and export.report.header_rows == 1


def test_byte_order_mark_is_optional(write):
    with_bom = read_historian_csv(write("\ufeff" + SIMPLE, "bom.csv"))
    without = read_historian_csv(write(SIMPLE, "plain.csv"))
    pd.testing.assert_frame_equal(with_bom.frame, without.frame)
    assert list(with_bom.frame.columns) == ["A", "B"]


def test_quoted_fields_and_numbers(write):
    export = read_historian_csv(write(_lines('"Ts","DWATT","B1VIB1"', '"6/1/2019 0:00","0.046386719","-25.04"')))
    assert export.frame.iloc[0].tolist() == [0.046386719, -25.04]
    assert export.report.timestamp_column == "Ts"


def test_missing_markers_become_nan(write):
    text = _lines(
        "TS,A,B",
        "1/1/2020 0:00,NaN,1",
        "1/1/2020 1:00,,2",
        "1/1/2020 2:00,#N/A,3",
        "1/1/2020 3:00,N/A,4",
        "1/1/2020 4:00,null,5",
        "1/1/2020 5:00,NULL,6",
        '1/1/2020 6:00," nan ",7',
        "1/1/2020 7:00,8.5,8",
    )
    export = read_historian_csv(write(text))
    assert export.frame["A"].isna().sum() == 7 and export.frame["A"].iloc[-1] == 8.5


def test_extra_missing_markers_can_be_declared(write):
    text = _lines("TS,A", "1/1/2020 0:00,1", "1/1/2020 1:00,I/O Timeout", "1/1/2020 2:00,3")
    with pytest.raises(IngestError, match="tag 'A' changes type"):
        read_historian_csv(write(text))
    export = read_historian_csv(write(text), missing_values=["i/o timeout"])
    assert np.isnan(export.frame["A"].iloc[1])


def test_multi_row_headers_become_tag_metadata_not_data(write):
    text = _lines(
        "Timestamp,FAN.DAMPER,FAN.CURRENT",
        "Description,Fan damper position,Fan motor current",
        "Units,%,A",
        "1/1/2020 0:00,33,35.4",
        "1/1/2020 0:30,32.5,35.2",
    )
    export = read_historian_csv(write(text))
    assert len(export.frame) == 2 and export.report.rows_in == 2
    assert export.report.header_rows == 3
    assert export.tags["FAN.DAMPER"].description == "Fan damper position"
    assert export.tags["FAN.DAMPER"].units == "%"
    assert export.tags["FAN.CURRENT"].units == "A"
    assert export.report.to_metadata()["tags"]["FAN.CURRENT"]["description"] == "Fan motor current"


def test_unlabelled_header_rows_are_description_then_units(write):
    text = _lines("TS,T1,T2", ",Bearing temperature,Winding temperature", ",degC,", "1/1/2020 0:00,60,70")
    export = read_historian_csv(write(text))
    assert export.tags["T1"].description == "Bearing temperature" and export.tags["T1"].units == "degC"
    assert export.tags["T2"].units is None
    assert export.frame.iloc[0].tolist() == [60.0, 70.0]


MOTOR_HEADER = (
    "Point Name,SIM.II100,SIM.TI101",
    "Description,MOTOR CURRENT,NDE BRNG TEMP",
    "Extended Name,,",
    "Extended Description,,",
    "Units,A,C",
)


def _hourly(count, start=0):
    """`count` hourly data rows from 01/01/2017 in the MOTOR exports' spelling: many, so 3 stray rows fit
    in the 0.5% budget and would be lost silently."""
    times = pd.date_range("2017-01-01", periods=start + count, freq="h")[start:]
    return [f"{time:%m/%d/%Y %H:%M},{index},{index / 2}" for index, time in enumerate(times)]


def test_header_block_with_empty_labelled_rows_is_all_tag_metadata(write):
    export = read_historian_csv(write(_lines(*MOTOR_HEADER, *_hourly(1000))))
    report = export.report
    assert report.header_rows == 5 and report.rows_in == 1000 and len(export.frame) == 1000
    assert report.dropped_rows == {"unparseable_timestamps": 0, "nonexistent_local_times": 0}
    assert export.tags["SIM.II100"].units == "A" and export.tags["SIM.TI101"].units == "C"
    assert export.tags["SIM.II100"].description == "MOTOR CURRENT"
    assert export.tags["SIM.TI101"].attributes == {"Extended Name": "", "Extended Description": ""}
    assert report.to_metadata()["tags"]["SIM.II100"]["units"] == "A"


def test_a_header_block_of_any_length(write):
    labels = [f"Attribute {letter}" for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    rows = [f"{label},{label.lower()} of A," if index % 3 else f"{label},," for index, label in enumerate(labels)]
    export = read_historian_csv(write(_lines("Point Name,A,B", "Units,kW,%", *rows, *_hourly(3))))
    assert export.report.timestamp_column == "Point Name"  # the column that parses, header rows aside
    assert export.report.header_rows == 2 + len(labels) and export.report.rows_in == 3
    assert list(export.tags["A"].attributes) == labels
    assert export.tags["A"].attributes["Attribute B"] == "attribute b of A"
    assert export.tags["B"].attributes["Attribute B"] == "" and export.tags["B"].units == "%"


def test_extended_description_does_not_replace_the_description(write):
    header = ("TS,A,B", "Description,Motor current,", "Extended Description,Stator current phase A,", "EU,A,")
    export = read_historian_csv(write(_lines(*header, *_hourly(2))))
    info = export.tags["A"]
    assert (info.description, info.units) == ("Motor current", "A")
    assert info.attributes == {"Extended Description": "Stator current phase A"}


def test_unlabelled_header_rows_fill_what_labels_left(write):
    labelled = read_historian_csv(write(_lines("TS,A,B", "Description,Pump power,Flow", ",kW,", *_hourly(2))))
    assert labelled.tags["A"].description == "Pump power" and labelled.tags["A"].units == "kW"
    assert labelled.tags["B"].units is None and labelled.tags["B"].attributes == {}
    header = ("TS,A,B", ",Bearing temp,Winding temp", "Extended Name,,", ",degC,degC", ",x,")
    mixed = read_historian_csv(write(_lines(*header, *_hourly(2))))
    assert mixed.report.header_rows == 5
    assert mixed.tags["B"] == TagInfo("B", "Winding temp", "degC", {"Extended Name": ""})
    assert mixed.tags["A"].attributes == {"Extended Name": "", "line 5": "x"}


@pytest.mark.parametrize("first_row", ["13/01/2017 00:00,5,6", "13/01/2017 00:00,,", "#N/A,,", "(no time),5,"])
def test_a_bad_data_timestamp_right_after_the_header_is_counted(write, first_row):
    export = read_historian_csv(write(_lines(*MOTOR_HEADER, first_row, *_hourly(999, start=1))))
    assert export.report.header_rows == 5 and export.report.rows_in == 1000
    assert export.report.dropped_rows["unparseable_timestamps"] == 1 and len(export.frame) == 999
    assert export.tags["SIM.II100"].units == "A"


def test_mixed_date_spellings_all_parse(write):
    text = _lines("TS,A", "05-06-2012 14:00", "5/21/2012 14:00", "05-12-2012 14:00", "5/13/2012 9:00")
    export = read_historian_csv(write(text.replace("14:00\n", "14:00,1\n").replace("9:00\n", "9:00,2\n")))
    assert export.frame.index.equals(
        _utc("2012-05-06 14:00", "2012-05-21 14:00", "2012-05-12 14:00", "2012-05-13 09:00")
    )
    assert export.report.timestamp_formats == {"%m/%d/%Y %H:%M": 2, "%m-%d-%Y %H:%M": 2}


@pytest.mark.parametrize(
    "name", ["TS", "ts", "Timestamp", "EntryDateTime", "Time", "DateTime", "Date Time", "date_time"]
)
def test_timestamp_column_is_found_by_name_in_any_position(write, name):
    export = read_historian_csv(write(_lines(f"A,{name},B", "1,1/1/2020 0:00,2", "3,1/1/2020 1:00,4")))
    assert export.report.timestamp_column == name
    assert list(export.frame.columns) == ["A", "B"]


def test_timestamp_column_is_otherwise_the_first_that_parses(write):
    export = read_historian_csv(write(_lines("Value,When,Other", "1,2020-01-01 00:00,2", "3,2020-01-01 01:00,4")))
    assert export.report.timestamp_column == "When"
    assert export.frame.index.equals(_utc("2020-01-01 00:00", "2020-01-01 01:00"))


def test_few_unparseable_rows_are_dropped_and_counted(write):
    rows = [f"{1 + i // 24}/1/2020 {i % 24}:00,{i}" for i in range(240)]
    rows[100] = "not a time,100"
    export = read_historian_csv(write(_lines("TS,A", *rows)))
    assert len(export.frame) == 239 and 100.0 not in export.frame["A"].tolist()
    assert export.report.dropped_rows["unparseable_timestamps"] == 1
    assert export.report.rows_in == 240 and export.report.rows_out == 239


def test_declared_time_zone_is_stored_as_utc(write):
    export = read_historian_csv(write(SIMPLE), timezone="America/Chicago")
    assert export.frame.index.equals(_utc("2012-05-21 19:00", "2012-05-21 19:30"))
    assert export.report.timezone == "America/Chicago"


def test_local_export_across_the_fall_back_hour_keeps_every_row(write):
    times = ["0:00", "0:30", "1:00", "1:30", "1:00", "1:30", "2:00", "2:30"]
    text = _lines("TS,A", *[f"11/4/2012 {time},{value}" for value, time in enumerate(times)])
    cleaned = read_historian_csv(write(text), timezone="America/Chicago").clean()
    assert cleaned.report.dropped_rows["duplicate_timestamps"] == 0
    assert cleaned.frame["A"].tolist() == list(range(8))
    assert cleaned.report.cadence == pd.Timedelta("30min") and cleaned.report.gaps == []
    assert cleaned.frame.index[0] == pd.Timestamp("2012-11-04 05:00", tz="UTC")


def test_surrounding_spaces_are_ignored(write):
    export = read_historian_csv(write(_lines(" TS , A ", " 5/21/2012 14:00 , 2.5 ", "5/21/2012 14:30,  #N/A ")))
    assert list(export.frame.columns) == ["A"]
    assert export.frame["A"].iloc[0] == 2.5 and np.isnan(export.frame["A"].iloc[1])


def test_a_data_row_with_a_bad_timestamp_is_not_a_header_row(write):
    rows = [f"1/{1 + i // 24}/2020 {i % 24}:00,{i}" for i in range(240)]
    export = read_historian_csv(write(_lines("TS,A", "(no time),5", *rows)))
    assert export.report.header_rows == 1
    assert export.report.dropped_rows["unparseable_timestamps"] == 1 and len(export.frame) == 240


def test_blank_lines_and_a_trailing_delimiter_are_not_data(write):
    export = read_historian_csv(write(_lines("TS,A,B,", "", "5/21/2012 14:00,1,2,", "", "5/21/2012 14:30,3,4,")))
    assert list(export.frame.columns) == ["A", "B"] and len(export.frame) == 2


def test_text_only_columns_are_dropped_with_a_reason(write):
    export = read_historian_csv(write(_lines("TS,A,Status", "5/21/2012 14:00,1,Good", "5/21/2012 14:30,3,Bad")))
    assert list(export.frame.columns) == ["A"]
    assert export.report.dropped_tags == {"Status": "not numeric: text values only (e.g. 'Good', 'Bad')"}


def test_frame_is_as_read_and_clean_continues_the_report(write):
    text = _lines("TS,A", "5/21/2012 15:00,3", "5/21/2012 14:00,1", "5/21/2012 15:00,4", "oops,9", *[
        f"5/22/2012 {hour}:00,{hour}" for hour in range(24)
    ] * 9)
    export = read_historian_csv(write(text))
    assert export.frame["A"].iloc[:3].tolist() == [3.0, 1.0, 4.0]
    cleaned = export.clean(now="2030-01-01")
    assert cleaned.report.source == export.report.source
    assert cleaned.report.rows_in == 220
    assert cleaned.report.dropped_rows == {
        "unparseable_timestamps": 1,
        "nonexistent_local_times": 0,
        "duplicate_timestamps": 1 + 24 * 8,
        "future": 0,
    }
    assert cleaned.frame.loc["2012-05-21 15:00", "A"] == 4.0
    report = cleaned.report
    assert report.rows_out == report.rows_in - sum(report.dropped_rows.values()) + report.inserted_rows


# Bad input: every error names the file and the problem.


BAD_INPUTS = [
    pytest.param("", ": the file is empty", id="empty"),
    pytest.param("\n  \n", ": the file is empty", id="blank lines only"),
    pytest.param("\ufeff", ": the file is empty", id="byte-order mark only"),
    pytest.param("TS,A,B\n", ": the file has a header row but no data rows", id="header only"),
    pytest.param(
        _lines("TS,A,B", "Description,Damper,Current", "Units,%,A"),
        ": the file has a header (3 rows) but no data rows",
        id="header rows only",
    ),
    pytest.param(
        _lines("TS,A", "Description,Damper", "Extended Name,", "Units,%"),
        ": the file has a header (4 rows) but no data rows",
        id="header with an empty row only",
    ),
    pytest.param(
        _lines("TS,A", "Location,North", "Location,South", "1/1/2020 0:00,1"),
        ": header rows on lines 2 and 3 have the same label 'Location'",
        id="header label twice",
    ),
    pytest.param(_lines("Tag1,Tag2", "1,2", "3,4"), ": no timestamp column: no column is named", id="no timestamp"),
    pytest.param(_lines("TS", "5/21/2012 14:00"), ": no numeric tags", id="timestamp only"),
    pytest.param(_lines("TS,Status", "5/21/2012 14:00,Good"), ": no numeric tags", id="text tags only"),
    pytest.param(
        _lines("TS,A", *[f"1/1/2020 {i % 24}:00,{i}" for i in range(100)], "1/32/2020 0:00,1"),
        " (column 'TS'): 1 of 101 timestamps (0.99%) are invalid",
        id="too many unparseable",
    ),
    pytest.param(_lines("TS,A,B", "1/1/2020 0:00,1,2", "1/1/2020 3:00,5,1,5"), ": malformed CSV: ", id="ragged line"),
    pytest.param(
        _lines("TS,A,A", "1/1/2020 0:00,1,2"), ": duplicate column names in the header row: ['A']", id="duplicate names"
    ),
    pytest.param(_lines("TS,,B", "1/1/2020 0:00,1,2"), ": columns [2] have values but no name", id="unnamed column"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_INPUTS)
def test_bad_input_names_the_file_and_the_problem(write, text, problem):
    path = write(text)
    assert _error(path).startswith(f"{path}{problem}")


def test_named_timestamp_column_must_exist(write):
    path = write(SIMPLE)
    assert _error(path, timestamp_column="Zeit").startswith(f"{path}: timestamp column 'Zeit' not found")


def test_all_rows_unparseable(write):
    path = write(_lines("TS,A", "21/05/2012 14:00,1", "22/05/2012 14:00,2", "23/05/2012 14:00,3", "24/05/2012 14:00,4"))
    message = _error(path)
    assert message.startswith(f"{path} (column 'TS'): none of the 4 timestamps parses")
    assert "'21/05/2012 14:00' (line 2), '22/05/2012 14:00' (line 3), '23/05/2012 14:00' (line 4)" in message


def test_tag_that_changes_type(write):
    rows = ["1/1/2020 0:00,1,2", "1/1/2020 1:00,3,open", "1/1/2020 2:00,4,#N/A", '1/1/2020 3:00,5,"1,5"']
    path = write(_lines("TS,A,B", *rows))
    message = _error(path)
    assert message.startswith(f"{path}: tag 'B' changes type: 2 values are neither numbers nor missing markers")
    assert "examples: 'open' (line 3), '1,5' (line 5)" in message


def test_wrong_encoding(write):
    path = write(_lines("TS,Temp", "Units,°C", "1/1/2020 0:00,1"), encoding="cp1252")
    assert _error(path).startswith(f"{path}: not valid utf-8 text")
    assert read_historian_csv(path, encoding="cp1252").tags["Temp"].units == "°C"


def test_missing_file(tmp_path):
    path = tmp_path / "missing.csv"
    assert _error(path) == f"{path}: file not found"
