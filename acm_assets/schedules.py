"""Daily scoring of the last complete day and a weekly retrain, for every equipment; off until switched on."""

import dagster as dg
import pandas as pd

from acm_assets.jobs import scoring_job, training_job
from acm_assets.partitions import FIRST_DAY_ENV, LAST_DAY_ENV, day_partitions, equipment_partitions


@dg.schedule(job=scoring_job, cron_schedule="30 1 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_scoring_schedule(context: dg.ScheduleEvaluationContext):
    """At 01:30 UTC, score yesterday (the last complete day) for every equipment partition."""
    day = (pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC").normalize() - pd.Timedelta(days=1))
    end = day_partitions.end  # exclusive; None: open-ended (the wall clock adds a day partition daily)
    if day < day_partitions.start or (end is not None and day >= end):
        yield dg.SkipReason(f"{day:%Y-%m-%d} is outside the day partitions (${FIRST_DAY_ENV} .. ${LAST_DAY_ENV})")
        return
    for code in sorted(equipment_partitions.get_partition_keys(dynamic_partitions_store=context.instance)):
        key = dg.MultiPartitionKey({"equipment": code, "day": f"{day:%Y-%m-%d}"})
        yield dg.RunRequest(run_key=f"score:{key}", partition_key=key)


@dg.schedule(job=training_job, cron_schedule="0 3 * * 0", default_status=dg.DefaultScheduleStatus.STOPPED)
def weekly_training_schedule(context: dg.ScheduleEvaluationContext):
    """Sundays at 03:00 UTC, retrain every equipment on its latest baseline window (the only periodic retrain)."""
    week = f"{pd.Timestamp(context.scheduled_execution_time):%Y-%m-%d}"
    for code in sorted(equipment_partitions.get_partition_keys(dynamic_partitions_store=context.instance)):
        yield dg.RunRequest(run_key=f"train:{code}:{week}", partition_key=code)
