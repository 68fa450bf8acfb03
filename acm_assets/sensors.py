"""Keeps equipment partitions in sync with the Equipment table and cold-starts training for new equipment."""

import dagster as dg

from acm_assets.assets.ingest import MIN_BASELINE_ROWS
from acm_assets.jobs import training_job
from acm_assets.partitions import equipment_partitions
from acm_assets.resources import AcmDatabase


@dg.sensor(job=training_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def equipment_sensor(context: dg.SensorEvaluationContext, acm_database: AcmDatabase):
    """Adds a partition per new Equipment row. Equipment without a complete model version gets one training
    run once it has enough history for a baseline (until then each tick logs why it waits); the run key is
    per equipment, so a failing cold start is not retried every tick: the operator reruns it."""
    historian = acm_database.historian
    equipment = historian.list_equipment()
    known = set(context.instance.get_dynamic_partitions(equipment_partitions.name))
    new = [e.code for e in equipment if e.code not in known]
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
    if waiting:
        context.log.info(f"cold start waits for data: {'; '.join(waiting)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[equipment_partitions.build_add_request(new)] if new else [],
        run_requests=[dg.RunRequest(run_key=f"cold-start:{code}", partition_key=code) for code in ready],
        skip_reason=f"cold start waits for data: {_first(waiting)}" if waiting and not ready else None,
    )



def _first(reasons: list[str], shown: int = 10) -> str:
    """A tick's skip reason stays readable with a fleet waiting: the first few, then how many more."""
    more = f"; and {len(reasons) - shown} more equipment (see the tick's log)" if len(reasons) > shown else ""
    return "; ".join(reasons[:shown]) + more
