"""The Dagster IO managers over `ModelStore` and `TrainingDataStore`: they map output/input contexts onto
equipment, model type and version, and know nothing about what the models are.

The model type is the asset key's last path component; the equipment is the asset partition key (or its
`equipment` dimension when the key is a `dg.MultiPartitionKey`); the set of model types a run must write
before its version commits is read from the run's execution plan (every planned output that uses this IO
manager), so a subset rerun commits with the rest carried forward. Lineage comes from Dagster itself: the
models a step loaded through this IO manager are its upstream models, and the training data fingerprint
is what the asset reports as `trained_on` (the `TrainingDataIOManager` hands it over with the frame).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster._core.execution.plan.outputs import StepOutputHandle
from dagster._core.execution.stats import StepEventStatus
from pydantic import PrivateAttr

from acm_assets.database import create_engine, default_database_url
from acm_assets.registry.equipment import Equipment, EquipmentResolver
from acm_assets.registry.errors import IncompleteRunError, RegistryError, SupersededBaseError
from acm_assets.registry.runs import run_group_liveness
from acm_assets.registry.schema import check_registry_table, create_training_data_table
from acm_assets.registry.store import (
    DEFAULT_KEEP_VERSIONS,
    DEFAULT_STALE_AFTER,
    LoadedModel,
    ModelStore,
    Resolved,
    SaveResult,
    TrainingInfo,
    validate_model_type,
)
from acm_assets.registry.training_data import TrainingData, TrainingDataStore

MODEL_VERSION_TAG = "acm/model_version"
# Output metadata keys an asset may set (dg.Output(metadata=...) or context.add_output_metadata).
TRAINING_METADATA_KEYS = ("params", "train_rows", "train_sensors", "config_signature", "trained_on")
# Output metadata of a training data asset that says what it holds: its window and the spans vouched for as
# normal (part of the fingerprint, so the models fitted on it get them too).
WINDOW_METADATA_KEYS = ("window_start", "window_end", "normal_spans")
UNSIGNED_WARNING = (
    "ModelRegistry rows are unsigned: anyone who can write ModelRegistry can run code in this process "
    "(set ACM_REGISTRY_HMAC_KEY and run `acm registry sign`)"
)


class _RegistryIOManager(dg.ConfigurableIOManager):
    """What both IO managers share: the database, signing, and partition keys as equipment."""

    database_url: str | None = None
    """SQLAlchemy URL (e.g. dg.EnvVar("ACM_DATABASE_URL")); None: `acm_assets.database.default_database_url()`."""
    hmac_key: str | None = None
    """Signing key (e.g. dg.EnvVar("ACM_REGISTRY_HMAC_KEY")); when set, unsigned or tampered rows are refused."""
    require_signing: bool = False
    """Refuse to start without `hmac_key` (the production profile sets it)."""
    equipment_dimension: str = "equipment"
    """The dimension of a multi-partition key that names the equipment."""
    equipment_table: str = "Equipment"
    """Table mapping equipment codes (EquipCode) to EquipID."""

    _store: ModelStore | None = PrivateAttr(default=None)
    _resolver: EquipmentResolver | None = PrivateAttr(default=None)

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
            if self.require_signing and not self.hmac_key:
                raise RegistryError(
                    "this deployment requires signed ModelRegistry rows (ACM_REGISTRY_REQUIRE_SIGNING=1) but no "
                    "key is configured: set ACM_REGISTRY_HMAC_KEY"
                )
            engine = create_engine(self.database_url or default_database_url())
            check_registry_table(engine)
            self._store = ModelStore(engine, hmac_key=self.hmac_key)
            self._resolver = EquipmentResolver(engine, self.equipment_table)
        assert self._resolver is not None
        return self._store, self._resolver

    def _equipment(self, code: str) -> Equipment:
        return self._open()[1].resolve(code)

    def _codes(self, context: dg.InputContext | dg.OutputContext, what: str) -> list[str]:
        keys = context.asset_partition_keys if context.has_asset_partitions else None
        if not keys:
            raise RegistryError(
                f"{what}: {type(self).__name__} needs assets partitioned by equipment "
                "(a DynamicPartitionsDefinition, or a multi-partition with an "
                f"{self.equipment_dimension!r} dimension)"
            )
        return self._equipment_codes(keys, what)

    def _equipment_codes(self, keys: Sequence[str], what: str) -> list[str]:
        codes = set()
        for key in keys:
            if isinstance(key, dg.MultiPartitionKey):
                if self.equipment_dimension not in key.keys_by_dimension:
                    raise RegistryError(
                        f"{what}: partition key {key!r} has no dimension "
                        f"{self.equipment_dimension!r} (dimensions: {', '.join(key.keys_by_dimension)})"
                    )
                codes.add(key.keys_by_dimension[self.equipment_dimension])
            else:
                codes.add(key)
        return sorted(codes)


class ModelRegistryIOManager(_RegistryIOManager):
    """Stores each equipment partition's models as one atomic version in `ModelRegistry`; loads the
    latest consistent version (or the one pinned by the run tag) as `LoadedModel` objects."""

    keep_versions: int = DEFAULT_KEEP_VERSIONS
    """Complete versions kept per equipment (by commit time); older ones are deleted when a new one commits."""
    stale_partial_hours: float = DEFAULT_STALE_AFTER.total_seconds() / 3600
    """A finished run's partial version is deleted when a version commits this long after its last write
    (until then "re-execute from failure" can complete it)."""
    version_tag: str = MODEL_VERSION_TAG
    """Run tag that pins the model version a run loads."""

    # (run id, EquipID) -> the version this process resolved first: every later input of the run uses it,
    # so a training commit landing between two input loads cannot mix versions within a step.
    _resolved: dict[tuple[str, int], Resolved] = PrivateAttr(default_factory=dict)
    # (run id, step key, equipment code) -> {model type: {version, sha256}} the step loaded (its upstream).
    _loaded: dict[tuple[str, str, str], dict[str, dict]] = PrivateAttr(default_factory=dict)
    _warned: set[str] = PrivateAttr(default_factory=set)

    # ---------------------------------------------------------------- training side

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        store, _ = self._open()
        model_type = _model_type(context.asset_key if context.has_asset_key else None)
        codes = self._codes(context, f"model type {model_type}")
        if len(codes) == 1:
            values = {codes[0]: obj}
        else:
            values = _per_partition(obj, codes, model_type)
        run = context.step_context.dagster_run
        expected = planned_model_types(context)
        info = training_info(context.output_metadata)
        liveness = run_group_liveness(context.step_context.instance)
        results = []
        for code in codes:
            equipment = self._equipment(code)
            resolved = self._resolved.get((run.run_id, equipment.equip_id))
            upstream = self._loaded.get((run.run_id, context.step_key, code), {})
            try:
                result = store.save(
                    equipment,
                    model_type,
                    values[code],
                    run_id=run.run_id,
                    root_run_id=run.root_run_id or run.run_id,
                    expected_types=expected,
                    info=replace(info, upstream=upstream),
                    base_version=None if resolved is None else resolved.version,
                    keep_versions=self.keep_versions,
                    stale_after=timedelta(hours=self.stale_partial_hours),
                    liveness=liveness,
                )
            except SupersededBaseError as exc:
                raise dg.Failure(
                    description=str(exc),
                    metadata={"commit": "refused", "base_version": exc.base, "latest_version": exc.latest},
                    allow_retries=False,
                ) from exc
            results.append(result)
        for result in results:
            state = "committed" if result.complete else f"pending (waiting for {', '.join(result.missing)})"
            context.log.info(f"{model_type} of equipment {result.equipment} stored in version {result.version}: {state}")
        context.add_output_metadata(output_metadata(results, info))
        for result in results:
            lost = finished_producers(context, result.missing)
            if lost:
                raise IncompleteRunError(
                    f"version {result.version} of equipment {result.equipment} can never complete: "
                    f"{', '.join(lost)} were stored earlier in this run but are gone from ModelRegistry "
                    "(deleted while the run ran); rerun the training job"
                )

    # ---------------------------------------------------------------- scoring side

    def load_input(self, context: dg.InputContext) -> LoadedModel | dict[str, LoadedModel | Exception]:
        """One `LoadedModel` for a single-partition run, else {equipment code: LoadedModel} sorted by code,
        where an equipment whose model cannot be loaded maps to the error instead, so that one equipment
        never stops the others' steps.

        A model this run group wrote itself (an upstream model in a training run) comes from its own,
        possibly still pending, version; anything else from the pinned version or the latest consistent
        one, resolved once per run and equipment in this process."""
        store, _ = self._open()
        model_type = _model_type(context.asset_key if context.has_asset_key else None)
        codes = self._codes(context, f"model type {model_type}")
        run = context.step_context.dagster_run
        pinned = pinned_version(run.tags, self.version_tag)
        if not store.signed and run.run_id not in self._warned:
            self._warned.add(run.run_id)
            context.log.warning(UNSIGNED_WARNING)
        if context.has_partition_key and len(codes) == 1:
            model, skipped, from_run = self._load(context, store, codes[0], model_type, pinned)
            if from_run:  # an upstream model of this training run: its own output and the fit's metadata say so
                return model
            context.add_input_metadata(
                {
                    "model_version": model.version,
                    "model_sha256": model.sha256,
                    "equipment": model.equipment.code,
                    "pinned": pinned is not None,
                    **skipped_metadata(skipped, model.version),
                }
            )
            return model
        loaded: dict[str, LoadedModel | Exception] = {}
        for code in codes:
            try:
                loaded[code] = self._load(context, store, code, model_type, pinned)[0]
            except Exception as exc:  # noqa: BLE001 - handed to the asset, which fails that equipment alone
                context.log.error(f"{model_type} of equipment {code} cannot be loaded: {exc}")
                loaded[code] = exc
        context.log.info(
            f"{model_type} versions loaded: "
            + ", ".join(f"{code}=v{model.version}" for code, model in loaded.items() if isinstance(model, LoadedModel))
        )
        return loaded

    def load_version(self, code: str, version: int, model_types: list[str]) -> dict[str, LoadedModel]:
        """One equipment's models of a given complete version: scoring rescores days with the version that
        scored the days before them, so their episodes keep their identity."""
        store, _ = self._open()
        return store.load_version(self._equipment(code), model_types, version)

    def _load(
        self, context: dg.InputContext, store: ModelStore, code: str, model_type: str, pinned: int | None
    ) -> tuple[LoadedModel, tuple[tuple[int, str], ...], bool]:
        """One equipment's model, the newer versions passed over for it, and whether this run group wrote it."""
        run = context.step_context.dagster_run
        equipment = self._equipment(code)
        model = store.load_from_run(equipment, model_type, run.root_run_id or run.run_id)
        skipped: tuple[tuple[int, str], ...] = ()
        from_run = model is not None
        if model is None:
            key = (run.run_id, equipment.equip_id)
            if key not in self._resolved:
                self._resolved[key] = (
                    Resolved(pinned) if pinned else store.base_version(equipment, run.root_run_id or run.run_id)
                )
                for version, reason in self._resolved[key].skipped:
                    context.log.warning(
                        f"equipment {equipment}: skipped model version {version} ({reason}); "
                        f"using version {self._resolved[key].version}"
                    )
            skipped = self._resolved[key].skipped
            model = store.load(equipment, model_type, self._resolved[key].version)
        step = self._loaded.setdefault((run.run_id, context.step_context.step.key, code), {})
        step[model_type] = {"version": model.version, "sha256": model.sha256}
        return model, skipped, from_run


class TrainingDataIOManager(_RegistryIOManager):
    """Stores a training data frame per equipment partition in `ModelTrainingData` (every host reads the
    same one) and hands downstream steps a `TrainingData`: the frame this run group stored, else the one
    the model version the run carries from was fitted on."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        create_training_data_table(self._open()[0].engine)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        store = TrainingDataStore(self._open()[0])
        asset = context.asset_key.to_user_string() if context.has_asset_key else "output"
        codes = self._codes(context, f"training data {asset}")
        if len(codes) != 1:
            raise RegistryError(f"training data {asset}: one equipment partition per run, got {', '.join(codes)}")
        run = context.step_context.dagster_run
        metadata = {key: getattr(value, "value", value) for key, value in context.output_metadata.items()}
        facts = store.save(
            self._equipment(codes[0]),
            obj,
            root_run_id=run.root_run_id or run.run_id,
            window={key: metadata.get(key) for key in WINDOW_METADATA_KEYS},
        )
        context.add_output_metadata({"training_data": facts["id"][:12], "training_data_sha256": facts["sha256"]})

    def load_input(self, context: dg.InputContext) -> TrainingData:
        model_store, _ = self._open()
        store = TrainingDataStore(model_store)
        codes = self._codes(context, "training data")
        if len(codes) != 1:
            raise RegistryError(f"training data: one equipment partition per run, got {', '.join(codes)}")
        equipment = self._equipment(codes[0])
        run = context.step_context.dagster_run
        root = run.root_run_id or run.run_id
        data = store.load_from_run(equipment, root)
        if data is not None:  # stored by this run group's baseline step; each fit's `trained_on` names it
            return data
        data = store.load_for_version(equipment, model_store.base_version(equipment, root).version)
        context.add_input_metadata(
            {
                "training_data": data.fingerprint["id"][:12],
                "rows": len(data.frame),
                "from": f"model version {data.from_version}",
            }
        )
        return data


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


def _model_outputs(context: dg.OutputContext) -> dict[str, str]:
    """Model type -> step key of every output this run executes that is stored by the same IO manager key.
    A re-execution from failure plans every step of the job but runs only some (the run's
    `step_keys_to_execute`; a step worker's own plan names just its step): the others' models are already
    in the group's version, or will be carried, so they are not waited for."""
    step_context = context.step_context
    plan = step_context.execution_plan
    job_def = step_context.job_def
    own_key = plan.get_manager_key(StepOutputHandle(step_context.step.key, context.name), job_def)
    executed = step_context.dagster_run.step_keys_to_execute
    producers = {}
    for step in plan.steps if executed is None else map(plan.get_step_by_key, executed):
        for step_output in step.step_outputs:
            asset_key = step_output.properties.asset_key
            if asset_key is None:
                continue
            if plan.get_manager_key(StepOutputHandle(step.key, step_output.name), job_def) == own_key:
                producers[_model_type(asset_key)] = step.key
    return producers


def planned_model_types(context: dg.OutputContext) -> set[str]:
    """Model types of every output this run executes that is stored by the same IO manager key."""
    return set(_model_outputs(context))


def finished_producers(context: dg.OutputContext, missing: Sequence[str]) -> list[str]:
    """Missing model types whose steps already succeeded in this run: their rows were deleted."""
    producers = {model_type: step for model_type, step in _model_outputs(context).items() if model_type in missing}
    if not producers:
        return []
    stats = context.step_context.instance.get_run_step_stats(
        context.step_context.dagster_run.run_id, step_keys=sorted(set(producers.values()))
    )
    done = {stat.step_key for stat in stats if stat.status == StepEventStatus.SUCCESS}
    return sorted(model_type for model_type, step in producers.items() if step in done)


def training_info(metadata: Mapping[str, Any]) -> TrainingInfo:
    """The training facts an asset put in its output metadata (MetadataValue or plain values)."""
    values = {key: getattr(metadata[key], "value", metadata[key]) for key in TRAINING_METADATA_KEYS if key in metadata}
    sensors = values.get("train_sensors")
    return TrainingInfo(
        params=dict(values.get("params") or {}),
        train_rows=None if values.get("train_rows") is None else int(values["train_rows"]),
        train_sensors=None if sensors is None else [str(sensor) for sensor in sensors],
        config_signature=None if values.get("config_signature") is None else str(values["config_signature"]),
        trained_on=None if values.get("trained_on") is None else dict(values["trained_on"]),
    )


def output_metadata(results: list[SaveResult], info: TrainingInfo) -> dict[str, Any]:
    """What each model materialization shows in the UI (one partition: flat values; several: per code)."""

    def carried(result: SaveResult) -> list[str]:
        return [f"{model_type}@v{version}" for model_type, version in sorted(result.carried_forward.items())]

    def commit(result: SaveResult) -> str:
        if not result.complete:
            return "pending"
        bases = sorted(set(result.carried_forward.values()))
        if not bases:
            return "committed, nothing carried"
        return f"committed onto v{bases[0]}, the latest complete version at commit"

    def status(result: SaveResult) -> str:
        # Pending is the normal state between a run's steps: the last one to write commits the version.
        if result.complete:
            return "complete"
        return f"pending: still to be written {', '.join(result.missing)} (the last one written commits the version)"

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
            "version_status": status(result),
            "carried_forward": dg.MetadataValue.json(carried(result)),
            "commit": commit(result),
        }
    else:
        per_result = {
            name: dg.MetadataValue.json({result.equipment.code: getter(result) for result in results})
            for name, getter in {
                "model_version": lambda r: r.version,
                "model_bytes": lambda r: r.bytes,
                "model_sha256": lambda r: r.sha256,
                "version_status": status,
                "carried_forward": carried,
                "commit": commit,
            }.items()
        }
    return {**per_result, **{key: value for key, value in facts.items() if value is not None}}


def skipped_metadata(skipped: Sequence[tuple[int, str]], used: int) -> dict[str, Any]:
    """The note a load leaves when newer complete versions were passed over."""
    if not skipped:
        return {}
    return {
        "skipped_versions": dg.MetadataValue.json([{"version": version, "reason": reason} for version, reason in skipped]),
        "note": f"newer version(s) {', '.join(f'v{version}' for version, _ in skipped)} skipped; using v{used}",
    }


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
