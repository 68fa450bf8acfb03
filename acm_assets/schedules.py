"""Daily scoring of the last complete day, the fleet page after it, and a weekly retrain, for every equipment; off
until switched on."""

import itertools

import dagster as dg
import pandas as pd

from acm_assets.assets.scoring import scoring_days
from acm_assets.jobs import DAYS_TAG, EQUIPMENT_TAG, fleet_page_job, scoring_job, training_job
from acm_assets.partitions import (
    FIRST_DAY_ENV,
    LAST_DAY_ENV,
    calendar,
    equipment_partitions,
    partition_key_problem,
    scoring_partition_key,
)
from acm_assets.resources import AcmDatabase

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# A daily run scores this many equipment: a run per equipment made the daemon's tick create 1,000 runs for a
# 1,000-equipment fleet (158 s, docs/benchmarks.md), and each run starts its own process when it is launched.
EQUIPMENT_PER_DAILY_RUN = 50


@dg.schedule(
    job=scoring_job, cron_schedule="30 1 * * *", default_status=dg.DefaultScheduleStatus.STOPPED,
    description=f"At 01:30 UTC, score yesterday for every equipment with a complete model version, in runs of up "
    f"to {EQUIPMENT_PER_DAILY_RUN} equipment; untrained equipment wait for their cold start (the tick's log "
    "names them).",
)
def daily_scoring_schedule(context: dg.ScheduleEvaluationContext, acm_database: AcmDatabase):
    """At 01:30 UTC, score yesterday (the last complete day) for every trained equipment: runs of up to
    EQUIPMENT_PER_DAILY_RUN equipment in partition order, each over the month partitions that hold the day and
    scoring that day alone. Equipment without a complete model version wait for their cold start."""
    day = (pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC").normalize() - pd.Timedelta(days=1)).date()
    if not calendar.covers(day):
        yield dg.SkipReason(f"{day} is outside the scored days (${FIRST_DAY_ENV} .. ${LAST_DAY_ENV})")
        return
    codes = equipment_partitions.get_partition_keys(dynamic_partitions_store=context.instance)
    trained = acm_database.model_store.servable_equipment_ids()
    servable = {
        e.code for e in acm_database.historian.list_equipment()
        if e.equip_id in trained and not partition_key_problem(e.code)  # no run's range may span such a code
    }
    untrained = [code for code in codes if code not in servable]
    if untrained:
        context.log.info(f"not scored on {day}, no complete model version yet: {', '.join(untrained)}")
    if not servable:
        yield dg.SkipReason(f"no equipment has a complete model version to score {day} with")
        return
    for group in _runs_of(codes, servable):
        start, end = scoring_partition_key(group[0], day), scoring_partition_key(group[-1], day)
        yield dg.RunRequest(
            run_key=f"score:{day}:{group[0]}..{group[-1]}",
            tags={RANGE_START_TAG: str(start), RANGE_END_TAG: str(end), EQUIPMENT_TAG: equipment_tag(group),
                  DAYS_TAG: str(day)},
            run_config=scoring_days(day, day),
        )


def equipment_tag(codes: list[str]) -> str:
    """The Runs list's view of a run's equipment: one code, or a range's ends and how many it holds."""
    return codes[0] if len(codes) == 1 else f"{codes[0]} .. {codes[-1]} ({len(codes)} equipment)"


def _runs_of(codes: list[str], included: set[str]) -> list[list[str]]:
    """Consecutive included codes in partition order, at most EQUIPMENT_PER_DAILY_RUN a run: a partition range
    spans every equipment between its ends, so no run spans an excluded one."""
    segments = [list(group) for kept, group in itertools.groupby(codes, key=included.__contains__) if kept]
    return [s[i : i + EQUIPMENT_PER_DAILY_RUN] for s in segments for i in range(0, len(s), EQUIPMENT_PER_DAILY_RUN)]


@dg.schedule(
    job=training_job, cron_schedule="0 3 * * 0", default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sundays at 03:00 UTC, retrain every equipment on its latest baseline window (the only periodic "
    "retrain): one run per equipment.",
)
def weekly_training_schedule(context: dg.ScheduleEvaluationContext):
    """Sundays at 03:00 UTC, retrain every equipment on its latest baseline window (the only periodic retrain)."""
    week = f"{pd.Timestamp(context.scheduled_execution_time):%Y-%m-%d}"
    codes = sorted(equipment_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    if not codes:
        yield dg.SkipReason("no equipment partitions yet: equipment_sensor adds one per Equipment row")
    for code in codes:
        yield dg.RunRequest(run_key=f"train:{code}:{week}", partition_key=code, tags={EQUIPMENT_TAG: code})


daily_fleet_page_schedule = dg.ScheduleDefinition(
    name="daily_fleet_page_schedule",
    job=fleet_page_job,
    cron_schedule="0 6 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="At 06:00 UTC, the fleet health page of the morning (daily scoring starts at 01:30).",
)
