"""Partitions: one per equipment (kept in sync with the Equipment table by a sensor), and equipment x month
for scoring, whose rows stay daily.

A month partition keeps a fleet inside what Dagster's UI handles: 1,000 equipment x 3 years is 36,000
partitions per scoring asset where equipment x day made 1.1 million (measured in docs/benchmarks.md). A run
scores the days of its months that its `first_day`/`last_day` config selects, so the daily schedule and a
one-day rerun touch one day. Scoring covers `$ACM_FIRST_DAY` .. `$ACM_LAST_DAY` (inclusive; open-ended when
unset: up to yesterday, the last complete day), so the UI shows the months the historian covers.
"""

import datetime as dt
import os
import warnings
from dataclasses import dataclass

import dagster as dg

FIRST_DAY_ENV = "ACM_FIRST_DAY"
LAST_DAY_ENV = "ACM_LAST_DAY"
DEFAULT_FIRST_DAY = "2024-01-01"
MONTH_FORMAT = "%Y-%m"


@dataclass(frozen=True)
class ScoringCalendar:
    """The days scoring covers, grouped into month partitions."""

    first_day: dt.date
    last_day: dt.date | None  # None: up to yesterday (UTC), growing daily

    @classmethod
    def from_settings(cls, first_day: str, last_day: str | None = None) -> "ScoringCalendar":
        try:
            first = dt.date.fromisoformat(first_day)
            last = dt.date.fromisoformat(last_day) if last_day else None
        except ValueError as exc:
            raise ValueError(f"{FIRST_DAY_ENV}/{LAST_DAY_ENV} must be YYYY-MM-DD days: {exc}") from exc
        if last is not None and last < first:
            raise ValueError(f"{LAST_DAY_ENV}={last_day} is before {FIRST_DAY_ENV}={first_day}")
        return cls(first, last)

    def month_partitions(self) -> dg.TimeWindowPartitionsDefinition:
        # end_offset: the current month is a partition from its first day on (it holds yesterday from the 2nd).
        end = month_of(_next_month(self.last_day.replace(day=1))) if self.last_day else None
        return dg.MonthlyPartitionsDefinition(
            start_date=month_of(self.first_day), end_date=end, fmt=MONTH_FORMAT, end_offset=1
        )

    def last_scorable_day(self, today: dt.date | None = None) -> dt.date:
        yesterday = (today or dt.datetime.now(dt.timezone.utc).date()) - dt.timedelta(days=1)
        return yesterday if self.last_day is None else min(self.last_day, yesterday)

    def covers(self, day: dt.date) -> bool:
        return self.first_day <= day and (self.last_day is None or day <= self.last_day)

    def days_of_month(self, month: str, today: dt.date | None = None) -> list[dt.date]:
        """The month's days within the calendar, up to yesterday."""
        first = dt.datetime.strptime(month, MONTH_FORMAT).date()
        end = min(_next_month(first) - dt.timedelta(days=1), self.last_scorable_day(today))
        first = max(first, self.first_day)
        return [first + dt.timedelta(days=i) for i in range((end - first).days + 1)]


def month_of(day: dt.date) -> str:
    return day.strftime(MONTH_FORMAT)


def _next_month(first: dt.date) -> dt.date:
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def partitioned_check(name: str, asset: str, partitions_def: dg.PartitionsDefinition, **kwargs) -> dg.AssetCheckSpec:
    """A check evaluated per partition of its asset, so the UI shows each partition's own result."""
    # Partitioned checks are a preview API in Dagster 1.13 (pinned): its warning would print at every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=asset, partitions_def=partitions_def, **kwargs)


def partition_key_problem(code: str) -> str | None:
    """Why an equipment code cannot be a partition key (None when it can): `|` joins the dimensions of a scoring
    partition key, `...` marks a partition range, and Dagster refuses control characters."""
    if not code:
        return "it is empty"
    if "|" in code:
        return "'|' separates the equipment from the month in a scoring partition key"
    if "..." in code:
        return "'...' marks a range of partitions"
    if any(ord(char) < 32 for char in code):
        return "it holds control characters"
    return None


calendar = ScoringCalendar.from_settings(
    os.environ.get(FIRST_DAY_ENV) or DEFAULT_FIRST_DAY, os.environ.get(LAST_DAY_ENV)
)
equipment_partitions = dg.DynamicPartitionsDefinition(name="equipment")
scoring_partitions = dg.MultiPartitionsDefinition(
    {"equipment": equipment_partitions, "month": calendar.month_partitions()}
)


def scoring_partition_key(code: str, day: dt.date) -> dg.MultiPartitionKey:
    """The scoring partition that holds one equipment's day."""
    return dg.MultiPartitionKey({"equipment": code, "month": month_of(day)})
