"""One asset per detector model type, per equipment, stored as a ModelRegistry version by its IO manager."""


import dagster as dg
import numpy as np
import pandas as pd

from acm_assets.detectors import MODEL_DEPENDENCIES, DetectorFitError, DetectorInputError, ModelType, fit_model
from acm_assets.detectors.calibration import Z_CLIP
from acm_assets.partitions import equipment_partitions
from acm_assets.settings import ENSEMBLE_CONFIG

MODEL_IO_MANAGER_KEY = "model_registry_io_manager"
# A calibrated head alarms on about `false_alarm_rate` of its held-out slice; this many times more is broken.
MAX_HOLDOUT_ALARM_FACTOR = 3.0
MAX_SATURATED_SHARE = 0.01


def build_model_asset(model_type: ModelType) -> dg.AssetsDefinition:
    upstream_types = MODEL_DEPENDENCIES[model_type]
    is_head = model_type not in (ModelType.regime_model, ModelType.feature_medians)

    @dg.asset(
        name=model_type.value,
        ins={"baseline": dg.AssetIn(), **{t.value: dg.AssetIn() for t in upstream_types}},
        partitions_def=equipment_partitions,
        group_name="training",
        io_manager_key=MODEL_IO_MANAGER_KEY,
        code_version=ENSEMBLE_CONFIG.signature(),
        check_specs=[dg.AssetCheckSpec("model_quality", asset=model_type.value, blocking=True)] if is_head else None,
        description=f"The {model_type.value} artifact of each equipment, fitted on its baseline.",
    )
    def _model(context: dg.AssetExecutionContext, baseline: pd.DataFrame, **upstream):
        code = context.partition_key
        try:
            artifact = fit_model(model_type, baseline, ENSEMBLE_CONFIG, {k: v.value for k, v in upstream.items()})
        except (DetectorFitError, DetectorInputError) as exc:
            raise dg.Failure(description=f"{model_type.value} of equipment {code}: {exc}") from exc
        if is_head:
            check = model_quality(artifact)
            if not check.passed:
                # Nothing is stored: the registry version stays incomplete and scoring keeps the last good one.
                yield check
                raise dg.Failure(
                    description=f"{model_type.value} of equipment {code} failed its quality check",
                    metadata=check.metadata,
                )
        yield dg.Output(
            artifact,
            metadata={
                "params": artifact.params,
                "train_rows": artifact.train_rows,
                "train_sensors": artifact.train_sensors,
                "config_signature": ENSEMBLE_CONFIG.signature(),
                **{f"upstream_{k}_version": v.version for k, v in upstream.items()},
            },
        )
        if is_head:
            yield check

    return _model


def model_quality(artifact) -> dg.AssetCheckResult:
    """Each calibrated head must alarm rarely on its held-out slice and never pin at the clip."""
    limit = MAX_HOLDOUT_ALARM_FACTOR * ENSEMBLE_CONFIG.false_alarm_rate
    metadata, problems = {}, []
    for head, z in artifact.holdout_z.items():
        z = np.asarray(z, dtype=float)
        alarm_share = float(np.mean(z >= ENSEMBLE_CONFIG.alert_z)) if len(z) else float("nan")
        saturated = float(np.mean(z >= Z_CLIP)) if len(z) else float("nan")
        metadata[f"{head}_holdout_alarm_share"] = alarm_share
        metadata[f"{head}_saturated_share"] = saturated
        if not len(z) or not np.isfinite(z).all():
            problems.append(f"{head}: held-out z missing or not finite")
        elif alarm_share > limit:
            problems.append(f"{head}: held-out alarm share {alarm_share:.2%} > {limit:.2%}")
        elif saturated > MAX_SATURATED_SHARE:
            problems.append(f"{head}: {saturated:.2%} of held-out points at the clip {Z_CLIP}")
    metadata["holdout_points"] = len(artifact.holdout_times)
    metadata["problems"] = dg.MetadataValue.json(problems)
    return dg.AssetCheckResult(check_name="model_quality", passed=not problems, metadata=metadata)


model_assets = [build_model_asset(model_type) for model_type in ModelType]
