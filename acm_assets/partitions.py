"""Partitions: one per equipment (kept in sync with the Equipment table by a sensor), and equipment x day.

The day partitions span `$ACM_FIRST_DAY` .. `$ACM_LAST_DAY` (inclusive; open-ended when unset), so the UI
shows the days the historian covers rather than every day since an arbitrary start.
"""

import datetime as dt
import os
import warnings

import dagster as dg

FIRST_DAY_ENV = "ACM_FIRST_DAY"
LAST_DAY_ENV = "ACM_LAST_DAY"
DEFAULT_FIRST_DAY = "2024-01-01"


def build_day_partitions(first_day: str, last_day: str | None = None) -> dg.DailyPartitionsDefinition:
    """Daily partitions from `first_day` to `last_day` inclusive (None: up to yesterday, growing daily)."""
    try:
        first = dt.date.fromisoformat(first_day)
        end = dt.date.fromisoformat(last_day) + dt.timedelta(days=1) if last_day else None
    except ValueError as exc:
        raise ValueError(f"{FIRST_DAY_ENV}/{LAST_DAY_ENV} must be YYYY-MM-DD days: {exc}") from exc
    if end is not None and end <= first:
        raise ValueError(f"{LAST_DAY_ENV}={last_day} is before {FIRST_DAY_ENV}={first_day}")
    return dg.DailyPartitionsDefinition(start_date=first.isoformat(), end_date=end.isoformat() if end else None)


def partitioned_check(name: str, asset: str, partitions_def: dg.PartitionsDefinition, **kwargs) -> dg.AssetCheckSpec:
    """A check evaluated per partition of its asset, so the UI shows each partition's own result."""
    # Partitioned checks are a preview API in Dagster 1.13 (pinned): its warning would print at every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=asset, partitions_def=partitions_def, **kwargs)


equipment_partitions = dg.DynamicPartitionsDefinition(name="equipment")
day_partitions = build_day_partitions(os.environ.get(FIRST_DAY_ENV) or DEFAULT_FIRST_DAY, os.environ.get(LAST_DAY_ENV))
equipment_day_partitions = dg.MultiPartitionsDefinition({"equipment": equipment_partitions, "day": day_partitions})
scoring_partitions = equipment_day_partitions


def scoring_partition_key(code: str, day: dt.date) -> dg.MultiPartitionKey:
    """The scoring partition that holds one equipment's day."""
    return dg.MultiPartitionKey({"equipment": code, "day": day.isoformat()})
