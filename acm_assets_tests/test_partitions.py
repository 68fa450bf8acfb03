import datetime as dt

import pytest

from acm_assets.partitions import ScoringCalendar, scoring_partition_key


def test_month_partitions_run_from_the_first_to_the_last_configured_day():
    calendar = ScoringCalendar.from_settings("2024-01-15", "2024-06-30")
    keys = calendar.month_partitions().get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2024-01", "2024-06", 6)
    january = calendar.days_of_month("2024-01")
    assert (january[0], january[-1], len(january)) == (dt.date(2024, 1, 15), dt.date(2024, 1, 31), 17)
    assert calendar.days_of_month("2024-06")[-1] == dt.date(2024, 6, 30)


def test_open_ended_scoring_holds_the_current_month_up_to_yesterday():
    calendar = ScoringCalendar.from_settings("2024-01-01")
    assert calendar.days_of_month("2026-12", today=dt.date(2026, 12, 3)) == [dt.date(2026, 12, 1), dt.date(2026, 12, 2)]
    assert calendar.days_of_month("2026-12", today=dt.date(2026, 12, 1)) == []
    keys = calendar.month_partitions().get_partition_keys()
    assert keys[-1] == f"{dt.datetime.now(dt.timezone.utc):%Y-%m}"


def test_three_years_of_a_thousand_equipment_stay_within_dagsters_partition_guidance():
    months = ScoringCalendar.from_settings("2024-01-01", "2026-12-31").month_partitions().get_partition_keys()
    assert len(months) * 1000 == 36_000 <= 100_000


def test_a_day_belongs_to_its_equipment_month():
    assert str(scoring_partition_key("FD_FAN", dt.date(2024, 2, 29))) == "FD_FAN|2024-02"


@pytest.mark.parametrize(
    "first, last, message",
    [
        ("01/02/2024", None, "ACM_FIRST_DAY/ACM_LAST_DAY must be YYYY-MM-DD days"),
        ("2024-01-01", "2024-13-01", "ACM_FIRST_DAY/ACM_LAST_DAY must be YYYY-MM-DD days"),
        ("2024-03-01", "2024-02-01", "ACM_LAST_DAY=2024-02-01 is before ACM_FIRST_DAY=2024-03-01"),
    ],
)
def test_a_bad_day_window_is_refused_naming_the_setting(first, last, message):
    with pytest.raises(ValueError, match=message):
        ScoringCalendar.from_settings(first, last)
