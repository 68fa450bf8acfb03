"""Where limits come from, the time-to-limit columns of an episode, and the words an engineer reads."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.tags import TagLimit, tag_limits
from acm_assets.outputs.limits import (
    BEYOND,
    ESTIMATED,
    LIMIT_COLUMNS,
    NO_LIMIT,
    NOT_TRENDING,
    REFERENCE,
    describe_time_to_limit,
    episode_time_to_limit,
    equipment_limits,
    load_limits_file,
)

INDEX = pd.date_range("2024-03-01", periods=8 * 144, freq="10min", tz="UTC")  # a week before the onset, a day after
ONSET = INDEX[-144]
SINCE = np.clip((INDEX - ONSET) / pd.Timedelta(hours=1), 0.0, None)  # hours since the onset
LOAD = np.sin(2 * np.pi * ((INDEX - INDEX[0]) / pd.Timedelta(hours=1)) / 24.0)


def _episode(culprits, open_=True):
    return SimpleNamespace(open=open_, culprits=culprits, onset=ONSET, start=ONSET + pd.Timedelta(hours=2),
                           end=INDEX[-1])


def _readings(**tags):
    """The equipment's readings: a daily load swing and the given tags (each a function of the load and the hours
    since the onset)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"LOAD": LOAD + rng.normal(0.0, 0.05, len(INDEX)),
                          **{tag: f(LOAD, SINCE) + rng.normal(0.0, 0.2, len(INDEX)) for tag, f in tags.items()}},
                         index=INDEX)
    calls = []

    def read(start, end):
        calls.append((start, end))
        return frame[(frame.index >= start) & (frame.index <= end)]

    return read, calls


def test_the_culprit_whose_crossing_comes_first_is_estimated_from_a_week_before_the_onset():
    read, calls = _readings(TEMP=lambda load, h: 60.0 + 5.0 * load + 1.0 * h,  # departure 23.8 at the end, +1/h
                            VIB=lambda load, h: 2.0 + 0.01 * h, FLOW=lambda load, h: 5.0 + load)
    limits = {"TEMP": TagLimit(high=95.0, low=None, source="t"), "VIB": TagLimit(high=10.0, low=None, source="t")}
    row = episode_time_to_limit(_episode(["FLOW", "VIB", "TEMP"]), limits, read)
    assert row["LimitTag"] == "TEMP" and row["LimitStatus"] == ESTIMATED
    assert row["HoursToLimit"] == pytest.approx(95.0 - 65.0 - 23.8, abs=1.0)  # above the swing's usual daily high
    assert row["HoursToLimitLow"] <= row["HoursToLimit"] <= row["HoursToLimitHigh"]
    assert calls == [(ONSET - REFERENCE, INDEX[-1])]  # one read, from the reference week to the last point
    assert describe_time_to_limit(row).startswith("TEMP reaches its limit in ")


def test_a_low_limit_and_a_limit_already_crossed():
    read, _ = _readings(PRESS=lambda load, h: 5.0 + 0.5 * load - 0.1 * h, TEMP=lambda load, h: 60.0 + 5.0 * load)
    falling = episode_time_to_limit(_episode(["PRESS"]), {"PRESS": TagLimit(high=9.0, low=1.0, source="t")}, read)
    # The pressure without its noise, carried on past the last reading: it first reaches 1.0 about 14 h on, after
    # the afternoon's load has fallen (not at the usual daily low, which comes later in the day).
    ahead = np.arange(1, 48 * 60) / 60.0
    hours = (INDEX[-1] - INDEX[0]) / pd.Timedelta(hours=1) + ahead
    pressure = 5.0 + 0.5 * np.sin(2 * np.pi * hours / 24.0) - 0.1 * (SINCE[-1] + ahead)
    true = ahead[np.flatnonzero(pressure <= 1.0)[0]]
    assert falling["LimitStatus"] == ESTIMATED and falling["HoursToLimit"] == pytest.approx(true, abs=1.0)
    assert falling["HoursToLimitLow"] <= true <= falling["HoursToLimitHigh"]
    beyond = episode_time_to_limit(_episode(["TEMP"]), {"TEMP": TagLimit(high=62.0, low=None, source="t")}, read)
    assert beyond["LimitStatus"] == BEYOND and beyond["HoursToLimit"] == 0.0
    assert describe_time_to_limit(beyond) == "TEMP is at or beyond its limit"


def test_no_number_where_no_limit_is_known_or_nothing_trends():
    read, _ = _readings(TEMP=lambda load, h: 60.0 + 5.0 * load)
    none = episode_time_to_limit(_episode(["TEMP", "VIB"]), {}, read)
    assert none == {**dict.fromkeys(LIMIT_COLUMNS), "LimitTag": "TEMP", "LimitStatus": NO_LIMIT}
    assert describe_time_to_limit(none) == "no limit known for TEMP"
    flat = episode_time_to_limit(_episode(["TEMP"]), {"TEMP": TagLimit(high=95.0, low=None, source="t")}, read)
    assert flat["LimitStatus"] == NOT_TRENDING and flat["HoursToLimit"] is None
    assert describe_time_to_limit(flat) == "TEMP is not trending toward its limit"
    closed = episode_time_to_limit(_episode(["TEMP"], open_=False), {"TEMP": TagLimit(95.0, None, "t")}, read)
    assert closed == dict.fromkeys(LIMIT_COLUMNS)
    assert describe_time_to_limit({**closed, "IsOpen": False}) == "no time to a limit (episode closed)"
    assert describe_time_to_limit(pd.Series({**closed, "IsOpen": True})) == "time to a limit not estimated"


def test_describe_reads_a_table_row_in_days_and_with_an_open_interval():
    row = pd.Series({"LimitTag": "TTOB", "HoursToLimit": 80.0, "HoursToLimitLow": 60.0,
                     "HoursToLimitHigh": np.nan, "LimitStatus": ESTIMATED})
    assert describe_time_to_limit(row) == "TTOB reaches its limit in 3.3 days (at least 2.5 days)"


def test_limits_from_tag_metadata_and_the_limits_file(tmp_path):
    tags = {
        "TEMP": {"units": "degC", "attributes": {"High Limit": "95", "Lo Limit": ""}},
        "PRESS": {"high_limit": 9.5, "low_limit": 1},
        "FLOW": {"description": "no limits here"},
    }
    assert tag_limits(tags, "export.csv") == {
        "TEMP": TagLimit(high=95.0, low=None, source="export.csv"),
        "PRESS": TagLimit(high=9.5, low=1.0, source="export.csv"),
    }
    path = tmp_path / "limits.json"
    path.write_text(json.dumps({"FD_FAN": {"TEMP": {"high": 90}, "FLOW": {"low": 0.5}}}))
    configured = load_limits_file(path)
    merged = equipment_limits("FD_FAN", tags, configured["FD_FAN"])
    assert (merged["TEMP"].high, merged["TEMP"].source) == (90.0, str(path))  # the file overrides the historian
    assert merged["PRESS"].low == 1.0 and merged["FLOW"] == TagLimit(high=None, low=0.5, source=str(path))


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"TEMP": {"attributes": {"High Limit": "hot"}}}, "export.csv: tag 'TEMP', 'High Limit': limit 'hot' is not"),
        ({"TEMP": {"high_limit": "inf"}}, "tag 'TEMP', 'high_limit': limit 'inf' is not a finite number"),
        ({"TEMP": {"high_limit": 5, "low_limit": 9}}, "tag 'TEMP' has low limit 9 not below its high limit 5"),
    ],
)
def test_a_bad_limit_in_tag_metadata_is_named(tags, message):
    with pytest.raises(IngestError, match=message.replace("(", r"\(")):
        tag_limits(tags, "export.csv")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "ACM_TAG_LIMITS="),
        ('["FD_FAN"]', "expected {equipment code"),
        ('{"FD_FAN": {"TEMP": {"high": "95"}}}', "equipment 'FD_FAN', tag 'TEMP', high: limit '95' is not a finite"),
        ('{"FD_FAN": {"TEMP": {"max": 95}}}', "equipment 'FD_FAN', tag 'TEMP': expected"),
        ('{"FD_FAN": {"TEMP": {"high": 1, "low": 2}}}', "tag 'TEMP' has low limit 2 not below its high limit 1"),
        ('{"FD_FAN": [1]}', "equipment 'FD_FAN': expected"),
    ],
)
def test_a_bad_limits_file_is_named(tmp_path, content, message):
    path = tmp_path / "limits.json"
    path.write_text(content)
    with pytest.raises(IngestError, match=message.replace("(", r"\(").replace("{", r"\{")):
        load_limits_file(path)
    with pytest.raises(IngestError, match="No such file"):
        load_limits_file(tmp_path / "missing.json")
