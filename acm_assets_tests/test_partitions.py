import pytest

from acm_assets.partitions import build_day_partitions


def test_day_partitions_run_from_the_first_to_the_last_configured_day():
    keys = build_day_partitions("2024-01-01", "2024-06-30").get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2024-01-01", "2024-06-30", 182)


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
        build_day_partitions(first, last)
