"""Stand-in training and scoring assets for the IO manager tests (the real detectors live elsewhere).

Module-level so jobs are reconstructable (re-execution, multiprocess executor, subprocess tests).
Behaviour switches come from the environment so a child process sees the same ones:
ACM_TEST_REGISTRY_URL (database), ACM_TEST_FAIL_ASSETS (comma list that raise), ACM_TEST_HANG_ASSET (an asset
that writes ACM_TEST_HANG_MARKER then sleeps until killed, or until ACM_TEST_RELEASE_FILE exists when set).
"""

import os
import time
from pathlib import Path

import dagster as dg

from acm_assets.registry.io_manager import ModelRegistryIOManager

MODEL_TYPES = ("feature_medians", "ar1_params", "pca_model")
IO_MANAGER_KEY = "model_registry_io_manager"

equipment_partitions = dg.DynamicPartitionsDefinition(name="equipment")
scoring_partitions = dg.MultiPartitionsDefinition(
    {"equipment": equipment_partitions, "day": dg.DailyPartitionsDefinition(start_date="2024-01-01")}
)


class StandInModel:
    """A small picklable 'model' recording which run trained it and which upstream versions it used."""

    def __init__(self, model_type: str, equipment: str, run_id: str, weight: float, upstream: dict | None = None):
        self.model_type = model_type
        self.equipment = equipment
        self.run_id = run_id
        self.weight = weight
        self.upstream = upstream or {}

    def score(self, x: float) -> float:
        return x * self.weight


def _behaviour(name: str) -> None:
    if name in os.environ.get("ACM_TEST_FAIL_ASSETS", "").split(","):
        raise RuntimeError(f"stand-in asset {name} told to fail")
    if os.environ.get("ACM_TEST_HANG_ASSET") == name:
        Path(os.environ["ACM_TEST_HANG_MARKER"]).write_text(str(os.getpid()))
        release = os.environ.get("ACM_TEST_RELEASE_FILE")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (release and Path(release).exists()):
            time.sleep(0.05)


def _model_asset(name: str, weight: float, upstream: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        ins={key: dg.AssetIn() for key in upstream},
        partitions_def=equipment_partitions,
        io_manager_key=IO_MANAGER_KEY,
    )
    def _train(context: dg.AssetExecutionContext, **models) -> dg.Output:
        _behaviour(name)
        used = {key: {"version": m.version, "run_id": m.value.run_id} for key, m in models.items()}
        model = StandInModel(name, context.partition_key, context.run.run_id, weight, used)
        return dg.Output(
            model,
            metadata={
                "train_rows": 1440,
                "train_sensors": dg.MetadataValue.json(["flow", "temp"]),
                "params": dg.MetadataValue.json({"weight": weight}),
                "config_signature": "sig-abc",
            },
        )

    return _train


feature_medians = _model_asset("feature_medians", 1.0, [])
ar1_params = _model_asset("ar1_params", 2.0, ["feature_medians"])
pca_model = _model_asset("pca_model", 3.0, ["feature_medians"])
training_assets = [feature_medians, ar1_params, pca_model]


@dg.asset(partitions_def=scoring_partitions, backfill_policy=dg.BackfillPolicy.single_run())
def scores(context: dg.AssetExecutionContext, pca_model) -> dg.MaterializeResult:
    """Reports the model version used per equipment, the way real scoring assets should."""
    models = pca_model if isinstance(pca_model, dict) else {pca_model.equipment.code: pca_model}
    return dg.MaterializeResult(
        metadata={
            "scores": dg.MetadataValue.json({code: model.value.score(1.0) for code, model in models.items()}),
            "model_versions": dg.MetadataValue.json({code: model.version for code, model in models.items()}),
            "equipment_order": dg.MetadataValue.json(list(models)),
        },
    )


def io_manager() -> ModelRegistryIOManager:
    return ModelRegistryIOManager(database_url=dg.EnvVar("ACM_TEST_REGISTRY_URL"))


defs = dg.Definitions(
    assets=[*training_assets, scores],
    jobs=[dg.define_asset_job("training", selection=list(MODEL_TYPES))],
    resources={IO_MANAGER_KEY: io_manager()},
)


def training_job() -> dg.JobDefinition:
    return defs.resolve_job_def("training")
