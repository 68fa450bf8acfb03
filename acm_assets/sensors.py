"""Sensors: equipment partitions kept in sync with the Equipment table (and cold-start training), and
episode notifications."""

import json

import dagster as dg

from acm_assets.assets.ingest import MIN_BASELINE_ROWS
from acm_assets.jobs import EQUIPMENT_TAG, training_job
from acm_assets.notifications.changes import Told
from acm_assets.notifications.tick import first_tick, notify
from acm_assets.partitions import equipment_partitions, partition_key_problem
from acm_assets.resources import AcmDatabase, NotificationTargets
from acm_assets.settings import ENSEMBLE_CONFIG


@dg.sensor(
    job=training_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
    description="Each minute: adds a partition per new Equipment row and launches one cold-start training run "
    "for equipment without a complete model version once it has the rows a baseline needs; each tick that "
    "requests nothing says why.",
)
def equipment_sensor(context: dg.SensorEvaluationContext, acm_database: AcmDatabase):
    """Adds a partition per new Equipment row. Equipment without a complete model version gets one training
    run once it has enough history for a baseline (until then each tick logs why it waits); the run key is
    per equipment, so a failing cold start is not retried every tick: the operator reruns it. A code that a
    partition key cannot hold (a plant's own tooling may insert one) is named and left out, and a partition
    an older version added for it is removed, so it never breaks the runs of the others."""
    historian = acm_database.historian
    refused = {}
    equipment = []
    for e in historian.list_equipment():
        problem = partition_key_problem(e.code)
        if problem:
            refused[e.code] = f"{e.code!r} (EquipID {e.equip_id}): {problem}"
        else:
            equipment.append(e)
    known = set(context.instance.get_dynamic_partitions(equipment_partitions.name))
    new = [e.code for e in equipment if e.code not in known]
    unusable = sorted(key for key in known if partition_key_problem(key))
    trained = acm_database.model_store.servable_equipment_ids()
    untrained = [e for e in equipment if e.equip_id not in trained]
    summary = historian.data_summary([e.code for e in untrained]) if untrained else {}
    ready, waiting = [], []
    for e in untrained:
        rows = summary[e.code][0] // max(len(e.tags), 1)  # stored points per tag: about the rows a baseline gets
        if rows >= MIN_BASELINE_ROWS:
            ready.append(e.code)
        else:
            waiting.append(f"{e.code}: {rows} rows of history, a baseline needs {MIN_BASELINE_ROWS}")
    reasons = []
    if refused:
        reasons.append(
            "equipment codes no partition key can hold are not monitored (rename them in Equipment: letters, "
            f"digits, '_' or '-'): {'; '.join(refused.values())}"
        )
        context.log.warning(reasons[-1])
    if waiting:
        context.log.info(f"cold start waits for data: {'; '.join(waiting)}")
        reasons.append(f"cold start waits for data: {_first(waiting)}")
    if not reasons and not ready:  # nothing untrained: say so rather than "0 runs requested"
        added = f" (partitions added now: {', '.join(new)})" if new else ""
        reasons.append(
            f"nothing to do: no equipment lacks a complete model version ({len(equipment)} registered){added}"
            if equipment else "no equipment registered yet (acm equipment add, or a row in Equipment)"
        )
    requests = [equipment_partitions.build_add_request(new)] if new else []
    if unusable:
        requests.append(equipment_partitions.build_delete_request(unusable))
    return dg.SensorResult(
        dynamic_partitions_requests=requests,
        run_requests=[
            dg.RunRequest(run_key=f"cold-start:{code}", partition_key=code, tags={EQUIPMENT_TAG: code}) for code in ready
        ],
        skip_reason="; ".join(reasons) if reasons and not ready else None,
    )


def _first(reasons: list[str], shown: int = 10) -> str:
    """A tick's skip reason stays readable with a fleet waiting: the first few, then how many more."""
    more = f"; and {len(reasons) - shown} more equipment (see the tick's log)" if len(reasons) > shown else ""
    return "; ".join(reasons[:shown]) + more


NOTIFY_ENV_HINT = (
    "no notification target: set ACM_NOTIFY_WEBHOOK_URL (a Slack or Teams incoming webhook) and/or ACM_SMTP_URL "
    "with ACM_NOTIFY_EMAIL_TO"
)


@dg.sensor(
    minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
    description="Each minute: tells each new episode, each rise in its severity and its close once per channel "
    "(webhook, email) through the outbox; launches no runs, and each tick says what it sent or why it sent nothing.",
)
def notification_sensor(context: dg.SensorEvaluationContext, acm_database: AcmDatabase,
                        notifications: NotificationTargets):
    """Tells each new episode, each rise in its severity and its close, once per channel: the changes go to
    the outbox table before the cursor (what was told) moves, and the outbox is sent with retries."""
    senders = notifications.senders()
    if not senders:
        return dg.SkipReason(NOTIFY_ENV_HINT)
    engine = acm_database.outputs.engine
    told = Told.from_json(json.loads(context.cursor)) if context.cursor else first_tick(engine)
    result = notify(engine, told, senders, notifications.rate_limit_per_hour, ENSEMBLE_CONFIG.alert_z)
    context.update_cursor(json.dumps(result.told.to_json()))
    for failure in result.delivery.failed:
        context.log.warning(f"notification not delivered (retried with backoff): {failure}")
    return dg.SkipReason(result.summary())
