"""The Dagster IO manager over `ModelStore`: maps output/input contexts onto equipment, model type, version.

It knows nothing about what the models are. The model type is the asset key's last path component; the
equipment is the asset partition key (or its `equipment` dimension when the key is a `dg.MultiPartitionKey`);
the set of model types a run must write before its version commits is read from the run's execution plan
(every planned output that uses this IO manager), so a subset rerun commits with the rest carried forward.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.execution.plan.outputs import StepOutputHandle
from pydantic import PrivateAttr

from acm_assets.database import create_engine, default_database_url
from acm_assets.registry.equipment import Equipment, EquipmentResolver
from acm_assets.registry.errors import RegistryError
from acm_assets.registry.schema import check_registry_table
from acm_assets.registry.store import (
    DEFAULT_KEEP_VERSIONS,
    LoadedModel,
    ModelStore,
    SaveResult,
    TrainingInfo,
    validate_model_type,
)

MODEL_VERSION_TAG = "acm/model_version"
# Output metadata keys an asset may set (dg.Output(metadata=...) or context.add_output_metadata).
TRAINING_METADATA_KEYS = ("params", "train_rows", "train_sensors", "config_signature")


class ModelRegistryIOManager(dg.ConfigurableIOManager):
    """Stores each equipment partition's models as one atomic version in `ModelRegistry`; loads the
    latest complete version (or the one pinned by the run tag) as `LoadedModel` objects."""

    database_url: str | None = None
    """SQLAlchemy URL (e.g. dg.EnvVar("ACM_DATABASE_URL")); None: `acm_assets.database.default_database_url()`."""
    hmac_key: str | None = None
    """Signing key (e.g. dg.EnvVar("ACM_REGISTRY_HMAC_KEY")); when set, unsigned or tampered rows are refused."""
    keep_versions: int = DEFAULT_KEEP_VERSIONS
    """Complete versions kept per equipment; older ones are deleted when a new version commits."""
    equipment_dimension: str = "equipment"
    """The dimension of a multi-partition key that names the equipment."""
    equipment_table: str = "Equipment"
    """Table mapping equipment codes (EquipCode) to EquipID."""
    version_tag: str = MODEL_VERSION_TAG
    """Run tag that pins the model version a run loads."""

    _store: ModelStore | None = PrivateAttr(default=None)
    _resolver: EquipmentResolver | None = PrivateAttr(default=None)
    # (run id, EquipID) -> the version this process resolved first: every later input of the run uses it,
    # so a training commit landing between two input loads cannot mix versions within a step.
    _resolved: dict[tuple[str, int], int] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._open()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.engine.dispose()
            self._store = None
            self._resolver = None

    def _open(self) -> tuple[ModelStore, EquipmentResolver]:
        """Engine, schema check and resolver, once per process (setup runs in each step process)."""
        if self._store is None:
            engine = create_engine(self.database_url or default_database_url())
            check_registry_table(engine)
            self._store = ModelStore(engine, hmac_key=self.hmac_key)
            self._resolver = EquipmentResolver(engine, self.equipment_table)
        assert self._resolver is not None
        return self._store, self._resolver

    def _equipment(self, code: str) -> Equipment:
        return self._open()[1].resolve(code)

    # ---------------------------------------------------------------- training side

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        store, _ = self._open()
        model_type = _model_type(context.asset_key if context.has_asset_key else None)
        codes = self._equipment_codes(context.asset_partition_keys if context.has_asset_partitions else None, model_type)
        if len(codes) == 1:
            values = {codes[0]: obj}
        else:
            values = _per_partition(obj, codes, model_type)
        run = context.step_context.dagster_run
        expected = planned_model_types(context)
        info = training_info(context.output_metadata)
        results = [
            store.save(
                self._equipment(code),
                model_type,
                values[code],
                run_id=run.run_id,
                root_run_id=run.root_run_id or run.run_id,
                expected_types=expected,
                info=info,
                keep_versions=self.keep_versions,
            )
            for code in codes
        ]
        for result in results:
            state = "committed" if result.complete else f"pending (waiting for {', '.join(result.missing)})"
            context.log.info(f"{model_type} of equipment {result.equipment} stored in version {result.version}: {state}")
        context.add_output_metadata(output_metadata(results, info))

    # ---------------------------------------------------------------- scoring side

    def load_input(self, context: dg.InputContext) -> LoadedModel | dict[str, LoadedModel]:
        """One `LoadedModel` for a single-partition run, else {equipment code: LoadedModel} sorted by code.

        A model this run group wrote itself (an upstream model in a training run) comes from its own,
        possibly still pending, version; anything else from the pinned version or the latest complete one,
        resolved once per run and equipment in this process."""
        store, _ = self._open()
        model_type = _model_type(context.asset_key if context.has_asset_key else None)
        codes = self._equipment_codes(context.asset_partition_keys if context.has_asset_partitions else None, model_type)
        run = context.step_context.dagster_run
        pinned = pinned_version(run.tags, self.version_tag)
        loaded = {}
        for code in codes:
            equipment = self._equipment(code)
            own = store.load_from_run(equipment, model_type, run.root_run_id or run.run_id)
            if own is not None:
                loaded[code] = own
                continue
            key = (run.run_id, equipment.equip_id)
            if key not in self._resolved:
                self._resolved[key] = pinned or store.latest_version(equipment)
            loaded[code] = store.load(equipment, model_type, self._resolved[key])
        if context.has_partition_key and len(codes) == 1:
            model = loaded[codes[0]]
            context.add_input_metadata(
                {
                    "model_version": model.version,
                    "model_sha256": model.sha256,
                    "equipment": model.equipment.code,
                    "pinned": pinned is not None,
                }
            )
            return model
        context.log.info(
            f"{model_type} versions loaded: " + ", ".join(f"{code}=v{model.version}" for code, model in loaded.items())
        )
        return loaded

    def _equipment_codes(self, keys: Sequence[str] | None, model_type: str) -> list[str]:
        if not keys:
            raise RegistryError(
                f"model type {model_type}: ModelRegistryIOManager needs assets partitioned by equipment "
                "(a DynamicPartitionsDefinition, or a multi-partition with an "
                f"{self.equipment_dimension!r} dimension)"
            )
        codes = set()
        for key in keys:
            if isinstance(key, dg.MultiPartitionKey):
                if self.equipment_dimension not in key.keys_by_dimension:
                    raise RegistryError(
                        f"model type {model_type}: partition key {key!r} has no dimension "
                        f"{self.equipment_dimension!r} (dimensions: {', '.join(key.keys_by_dimension)})"
                    )
                codes.add(key.keys_by_dimension[self.equipment_dimension])
            else:
                codes.add(key)
        return sorted(codes)


def _model_type(asset_key: dg.AssetKey | None) -> str:
    if asset_key is None:
        raise RegistryError("ModelRegistryIOManager stores asset outputs only (this output has no asset key)")
    model_type = asset_key.path[-1]
    validate_model_type(model_type, f"(asset {asset_key.to_user_string()})")
    return model_type


def _per_partition(obj: Any, codes: list[str], model_type: str) -> Mapping[str, Any]:
    """A run over several equipment partitions hands one object per partition as a dict."""
    if not isinstance(obj, Mapping) or set(obj) != set(codes):
        got = sorted(obj) if isinstance(obj, Mapping) else type(obj).__name__
        raise RegistryError(
            f"model type {model_type}: a run over equipment {', '.join(codes)} must output a dict keyed by "
            f"exactly those partition keys, got {got}"
        )
    return obj


def planned_model_types(context: dg.OutputContext) -> set[str]:
    """Model types of every output in this run's plan that is stored by the same IO manager key."""
    step_context = context.step_context
    plan = step_context.execution_plan
    job_def = step_context.job_def
    own_key = plan.get_manager_key(StepOutputHandle(step_context.step.key, context.name), job_def)
    types = set()
    for step in plan.steps:
        for step_output in step.step_outputs:
            asset_key = step_output.properties.asset_key
            if asset_key is None:
                continue
            if plan.get_manager_key(StepOutputHandle(step.key, step_output.name), job_def) == own_key:
                types.add(_model_type(asset_key))
    return types


def training_info(metadata: Mapping[str, Any]) -> TrainingInfo:
    """The training facts an asset put in its output metadata (MetadataValue or plain values)."""
    values = {key: getattr(metadata[key], "value", metadata[key]) for key in TRAINING_METADATA_KEYS if key in metadata}
    sensors = values.get("train_sensors")
    return TrainingInfo(
        params=dict(values.get("params") or {}),
        train_rows=None if values.get("train_rows") is None else int(values["train_rows"]),
        train_sensors=None if sensors is None else [str(sensor) for sensor in sensors],
        config_signature=None if values.get("config_signature") is None else str(values["config_signature"]),
    )


def output_metadata(results: list[SaveResult], info: TrainingInfo) -> dict[str, Any]:
    """What each model materialization shows in the UI (one partition: flat values; several: per code)."""

    def carried(result: SaveResult) -> list[str]:
        return [f"{model_type}@v{version}" for model_type, version in sorted(result.carried_forward.items())]

    facts = {
        "train_rows": info.train_rows,
        "config_signature": info.config_signature,
    }
    if len(results) == 1:
        (result,) = results
        per_result = {
            "model_version": result.version,
            "model_bytes": result.bytes,
            "model_sha256": result.sha256,
            "version_complete": result.complete,
            "carried_forward": dg.MetadataValue.json(carried(result)),
            "missing_types": dg.MetadataValue.json(list(result.missing)),
        }
    else:
        per_result = {
            name: dg.MetadataValue.json({result.equipment.code: getter(result) for result in results})
            for name, getter in {
                "model_version": lambda r: r.version,
                "model_bytes": lambda r: r.bytes,
                "model_sha256": lambda r: r.sha256,
                "version_complete": lambda r: r.complete,
                "carried_forward": carried,
                "missing_types": lambda r: list(r.missing),
            }.items()
        }
    return {**per_result, **{key: value for key, value in facts.items() if value is not None}}


def pinned_version(tags: Mapping[str, str], tag: str = MODEL_VERSION_TAG) -> int | None:
    """The version pinned by the run tag, or None; a malformed tag is an error, never ignored."""
    raw = tags.get(tag)
    if raw is None:
        return None
    try:
        version = int(raw)
    except ValueError:
        version = 0
    if version < 1:
        raise RegistryError(f"run tag {tag}={raw!r} is not a positive model version number")
    return version

