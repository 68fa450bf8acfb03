"""One asset per detector model type, per equipment, stored as a ModelRegistry version by its IO manager."""


import dagster as dg
import numpy as np
from scipy.stats import binom

from acm_assets.detectors import MODEL_DEPENDENCIES, DetectorFitError, DetectorInputError, ModelType, fit_model
from acm_assets.detectors.calibration import Z_CLIP
from acm_assets.partitions import equipment_partitions, partitioned_check
from acm_assets.registry.training_data import TrainingData
from acm_assets.settings import ENSEMBLE_CONFIG

MODEL_IO_MANAGER_KEY = "model_registry_io_manager"
# A calibrated head alarms on about `false_alarm_rate` of its out-of-fold points; this many times more is broken.
MAX_OOF_ALARM_FACTOR = 3.0
MAX_SATURATED_SHARE = 0.01
# A share is judged by a binomial test at this level, not read off directly: with ~330 out-of-fold points, 5
# alarms (1.5%) happen to a well-calibrated head about once in 40 fits.
QUALITY_TEST_LEVEL = 0.001


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
        check_specs=[_model_quality_spec(model_type.value)] if is_head else None,
        description=f"The {model_type.value} artifact of each equipment, fitted on its baseline.",
    )
    def _model(context: dg.AssetExecutionContext, baseline: TrainingData, **upstream):
        """Fits on the baseline this run stored, or (a rerun of some models) on the one the carried models
        were fitted on; `trained_on` lets the registry refuse a version whose models disagree."""
        code = context.partition_key
        try:
            artifact = fit_model(model_type, baseline.frame, ENSEMBLE_CONFIG, {k: v.value for k, v in upstream.items()},
                                 normal_spans=baseline.fingerprint.get("normal_spans", ()))
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
        # the facts an engineer reads first; `params` (the registry row's ParamsJSON) without the calibration knots
        # last but one, the knots last
        params, knots = split_knots(artifact.params)
        yield dg.Output(
            artifact,
            metadata={
                "train_rows": artifact.train_rows,
                "train_sensors": artifact.train_sensors,
                **_regime_facts(artifact),
                **_cross_fitting_facts(artifact),
                "config_signature": ENSEMBLE_CONFIG.signature(),
                "trained_on": dg.MetadataValue.json(dict(baseline.fingerprint)),
                **{f"upstream_{k}_version": v.version for k, v in upstream.items()},
                "params": params,
                **({"calibration_knots": dg.MetadataValue.json(knots)} if knots else {}),
            },
        )
        if is_head:
            yield check

    return _model


def split_knots(params: dict, path: str = "") -> tuple[dict, dict]:
    """`params` without the calibration knots (raw score -> z, 17 pairs per calibration), and the knots by the
    path they came from: dozens of lines a person need not scroll past."""
    kept, knots = {}, {}
    for key, value in params.items():
        if isinstance(value, dict) and {"knots_raw", "knots_z"} <= set(value):
            knots[f"{path}{key}"] = {k: value[k] for k in ("knots_raw", "knots_z")}
            rest = {k: v for k, v in value.items() if k not in ("knots_raw", "knots_z")}
            if rest:
                kept[key] = rest
        elif isinstance(value, dict):
            kept[key], inner = split_knots(value, f"{path}{key}/")
            knots |= inner
        else:
            kept[key] = value
    return kept, knots


def _model_quality_spec(asset: str) -> dg.AssetCheckSpec:
    return partitioned_check(
        "model_quality",
        asset,
        equipment_partitions,
        blocking=True,
        description=(
            f"Out-of-fold alarm share at most {MAX_OOF_ALARM_FACTOR:g}x the configured false-alarm rate and under "
            f"{MAX_SATURATED_SHARE:.0%} of out-of-fold points at the z clip (binomial test, p < {QUALITY_TEST_LEVEL}); "
            "a failing head is not stored, so scoring keeps the last good version."
        ),
    )


def _regime_facts(artifact) -> dict:
    """What the regime model found in the baseline, at the top of its materialization: its size, how stops were
    told, the operating and redundant tags, the tags dropped and the durations in effect."""
    if artifact.model_type is not ModelType.regime_model:
        return {}
    durations = artifact.params["durations"]
    return {
        "baseline": (f"{durations['baseline_rows']} rows over {durations['baseline_span_s'] / 86400:.3g} days at "
                     f"{durations['cadence_s'] / 60:.3g} min, {len(artifact.tags)} tags"),
        "stop_detection": artifact.params["stop_detection"]["method"],
        "stop_tags": dg.MetadataValue.json(list(artifact.off_tags)),
        "operating_tags": dg.MetadataValue.json(list(artifact.operating_tags)),
        "redundant_tags": dg.MetadataValue.json(artifact.params["redundant_tags"]),
        "dropped_tags": dg.MetadataValue.json(artifact.params["dropped_tags"]),
        "durations": dg.MetadataValue.json(durations),
    }


def _cross_fitting_facts(artifact) -> dict:
    """How a head was calibrated (time-blocked cross-fitting: folds, gap, out-of-fold points) and how reliable
    it proved on rows its fold models never saw, which sets its weight in the fused score."""
    if "cross_fitting" not in artifact.params:
        return {}
    plan = artifact.params["cross_fitting"]
    return {
        "calibration": (
            f"{plan['method']}: {plan['folds']} folds, gap {plan['gap_s'] / 3600:.3g} h at each cut (process memory "
            f"{plan['process_memory_s'] / 3600:.3g} h, feature window {plan['feature_window_s'] / 3600:.3g} h), "
            f"{plan['out_of_fold_rows']} out-of-fold points"
        ),
        **{f"{head}_reliability": report["reliability"] for head, report in plan["departure"].items()},
        **{f"{head}_switched_off": report["switched_off"] for head, report in plan["departure"].items()
           if report["switched_off"]},
    }


def model_quality(artifact) -> dg.AssetCheckResult:
    """Each calibrated head must alarm rarely on its out-of-fold points and never pin at the clip: a head
    fails when its counts are implausible (binomial test) for a head within those limits (a calibration that
    broke down: a head constant out of fold, ties at its top)."""
    alarm_limit = MAX_OOF_ALARM_FACTOR * ENSEMBLE_CONFIG.false_alarm_rate
    metadata, problems = {}, []
    for head, z in artifact.oof_z.items():
        z = np.asarray(z, dtype=float)
        alarms, saturated = int(np.sum(z >= ENSEMBLE_CONFIG.alert_z)), int(np.sum(z >= Z_CLIP))
        metadata[f"{head}_out_of_fold_alarm_share"] = alarms / len(z) if len(z) else float("nan")
        metadata[f"{head}_saturated_share"] = saturated / len(z) if len(z) else float("nan")
        if not len(z) or not np.isfinite(z).all():
            problems.append(f"{head}: out-of-fold z missing or not finite")
        elif _exceeds(alarms, len(z), alarm_limit):
            problems.append(
                f"{head}: {alarms} of {len(z)} out-of-fold points alarm, more than a head alarming on "
                f"{alarm_limit:.2%} would (p < {QUALITY_TEST_LEVEL})"
            )
        elif _exceeds(saturated, len(z), MAX_SATURATED_SHARE):
            problems.append(f"{head}: {saturated} of {len(z)} out-of-fold points at the clip {Z_CLIP}")
    metadata["out_of_fold_points"] = len(artifact.oof_times)
    metadata["problems"] = dg.MetadataValue.json(problems)
    return dg.AssetCheckResult(check_name="model_quality", passed=not problems, metadata=metadata)


def _exceeds(count: int, n: int, share: float) -> bool:
    return count > 0 and float(binom.sf(count - 1, n, share)) < QUALITY_TEST_LEVEL


model_assets = [build_model_asset(model_type) for model_type in ModelType]
