"""Daily scoring of the last complete day and a weekly retrain, for every equipment; off until switched on."""

import dagster as dg
import pandas as pd

from acm_assets.assets.scoring import scoring_days
from acm_assets.jobs import scoring_job, training_job
from acm_assets.partitions import FIRST_DAY_ENV, LAST_DAY_ENV, calendar, equipment_partitions, scoring_partition_key


@dg.schedule(job=scoring_job, cron_schedule="30 1 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_scoring_schedule(context: dg.ScheduleEvaluationContext):
    """At 01:30 UTC, score yesterday (the last complete day) for every equipment: one run each, on the month
    partition that holds the day, scoring that day alone."""
    day = (pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC").normalize() - pd.Timedelta(days=1)).date()
    if not calendar.covers(day):
        yield dg.SkipReason(f"{day} is outside the scored days (${FIRST_DAY_ENV} .. ${LAST_DAY_ENV})")
        return
    for code in sorted(equipment_partitions.get_partition_keys(dynamic_partitions_store=context.instance)):
        yield dg.RunRequest(
            run_key=f"score:{code}:{day}",
            partition_key=scoring_partition_key(code, day),
            run_config=scoring_days(day, day),
        )


@dg.schedule(job=training_job, cron_schedule="0 3 * * 0", default_status=dg.DefaultScheduleStatus.STOPPED)
def weekly_training_schedule(context: dg.ScheduleEvaluationContext):
    """Sundays at 03:00 UTC, retrain every equipment on its latest baseline window (the only periodic retrain)."""
    week = f"{pd.Timestamp(context.scheduled_execution_time):%Y-%m-%d}"
    for code in sorted(equipment_partitions.get_partition_keys(dynamic_partitions_store=context.instance)):
        yield dg.RunRequest(run_key=f"train:{code}:{week}", partition_key=code)
