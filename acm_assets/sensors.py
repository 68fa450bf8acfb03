"""Keeps equipment partitions in sync with the Equipment table and cold-starts training for new equipment."""

import dagster as dg

from acm_assets.jobs import training_job
from acm_assets.partitions import equipment_partitions
from acm_assets.registry.equipment import Equipment as RegistryEquipment
from acm_assets.registry.errors import VersionNotFoundError
from acm_assets.registry.store import ModelStore
from acm_assets.resources import AcmDatabase


@dg.sensor(job=training_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def equipment_sensor(context: dg.SensorEvaluationContext, acm_database: AcmDatabase):
    """Adds a partition per new Equipment row; equipment without a complete model version gets one training
    run (run key per equipment, so a failing cold start is not retried every tick: the operator reruns it)."""
    equipment = acm_database.historian.list_equipment()
    codes = [e.code for e in equipment]
    known = set(context.instance.get_dynamic_partitions(equipment_partitions.name))
    new = [code for code in codes if code not in known]
    registry = acm_database.model_store
    untrained = [e.code for e in equipment if not _has_complete_version(registry, e.equip_id, e.code)]
    return dg.SensorResult(
        dynamic_partitions_requests=[equipment_partitions.build_add_request(new)] if new else [],
        run_requests=[dg.RunRequest(run_key=f"cold-start:{code}", partition_key=code) for code in untrained],
    )


def _has_complete_version(registry: ModelStore, equip_id: int, code: str) -> bool:
    try:
        registry.latest_version(RegistryEquipment(equip_id, code))
    except VersionNotFoundError:
        return False
    return True
