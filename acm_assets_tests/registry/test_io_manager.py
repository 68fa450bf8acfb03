"""Dagster-level version semantics through dg.materialize on a real instance, on SQLite and PostgreSQL."""

import threading
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa

from acm_assets.registry.equipment import EquipmentResolver
from acm_assets.registry.errors import (
    IntegrityError,
    ModelTypeError,
    RegistryError,
    RegistrySchemaError,
    VersionNotFoundError,
)
from acm_assets.registry.io_manager import ModelRegistryIOManager
from acm_assets.registry.schema import model_registry
from acm_assets_tests.registry import stand_in
from acm_assets_tests.registry.stand_in import IO_MANAGER_KEY, MODEL_TYPES, scores, training_assets

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@pytest.fixture
def instance():
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("equipment", ["FD_FAN", "PUMP_A", "NOT_REGISTERED"])
    return instance


def train(instance, url, only=None, partition="FD_FAN", raise_on_error=True, **config):
    """A training run of every stand-in model, or of the `only` subset (a rerun from the UI)."""
    return dg.materialize(
        training_assets,
        selection=only,
        partition_key=partition,
        instance=instance,
        resources={IO_MANAGER_KEY: ModelRegistryIOManager(database_url=url, **config)},
        raise_on_error=raise_on_error,
    )


def score(instance, url, partition=None, tags=None, **config):
    return dg.materialize(
        [scores, *training_assets],
        selection=[scores],
        partition_key=partition,
        instance=instance,
        tags=tags,
        resources={IO_MANAGER_KEY: ModelRegistryIOManager(database_url=url, **config)},
    )


def metadata_of(result, asset_name):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset_name]
    return {key: getattr(value, "value", value) for key, value in event.materialization.metadata.items()}


def test_training_run_writes_one_complete_version_with_run_id(instance, registry_url, store, fd_fan):
    result = train(instance, registry_url)
    assert store.latest_version(fd_fan) == 1
    manifest = store.manifest(fd_fan)
    assert manifest["saved_models"] == sorted(MODEL_TYPES)
    assert manifest["carried_forward"] == {}
    assert manifest["equip"] == "FD_FAN"
    assert (manifest["train_rows"], manifest["train_sensors"], manifest["config_signature"]) == (
        1440,
        ["flow", "temp"],
        "sig-abc",
    )
    assert manifest["models"]["ar1_params"]["params"] == {"weight": 2.0}
    with store.engine.connect() as conn:
        run_ids = set(conn.execute(sa.select(model_registry.c.RunID)).scalars())
    assert run_ids == {result.run_id}
    loaded = store.load(fd_fan, "pca_model")
    assert (loaded.value.run_id, loaded.value.weight, loaded.version) == (result.run_id, 3.0, 1)


def test_training_run_reads_its_own_pending_upstream_models(instance, registry_url, store, fd_fan):
    first = train(instance, registry_url)
    pca = store.load(fd_fan, "pca_model").value
    assert pca.upstream == {"feature_medians": {"version": 1, "run_id": first.run_id}}
    second = train(instance, registry_url)
    assert store.load(fd_fan, "ar1_params").value.upstream["feature_medians"]["run_id"] == second.run_id


def test_subset_rerun_reads_upstream_from_the_latest_complete_version(instance, registry_url, store, fd_fan):
    first = train(instance, registry_url)
    train(instance, registry_url, only=["pca_model"])
    pca = store.load(fd_fan, "pca_model").value
    assert pca.upstream == {"feature_medians": {"version": 1, "run_id": first.run_id}}
    assert store.manifest(fd_fan)["carried_forward"] == {"ar1_params": 1, "feature_medians": 1}


def test_every_materialization_shows_registry_metadata(instance, registry_url, store, fd_fan):
    train(instance, registry_url)
    result = train(instance, registry_url, only=["ar1_params"])
    shown = metadata_of(result, "ar1_params")
    stored = store.load(fd_fan, "ar1_params")
    assert shown["model_version"] == 2
    assert shown["model_sha256"] == stored.sha256
    assert shown["model_bytes"] == stored.stats["bytes"] > 0
    assert shown["train_rows"] == 1440
    assert shown["config_signature"] == "sig-abc"
    assert shown["carried_forward"] == ["feature_medians@v1", "pca_model@v1"]
    assert shown["version_status"] == "complete"


def test_partial_run_is_never_visible(instance, registry_url, store, fd_fan, monkeypatch):
    monkeypatch.setenv("ACM_TEST_FAIL_ASSETS", "pca_model")
    result = train(instance, registry_url, raise_on_error=False)
    assert not result.success
    with pytest.raises(VersionNotFoundError, match="FD_FAN"):
        store.latest_version(fd_fan)
    (info,) = store.versions(fd_fan.equip_id)
    assert not info.complete and set(info.model_types) == {"feature_medians", "ar1_params"}
    with pytest.raises(VersionNotFoundError, match="equipment FD_FAN .* no complete model version"):
        score(instance, registry_url, partition="2024-01-01|FD_FAN")


def test_subset_rerun_carries_other_types_forward(instance, registry_url, store, fd_fan):
    first = train(instance, registry_url)
    second = train(instance, registry_url, only=["pca_model"])
    manifest = store.manifest(fd_fan)
    assert manifest["version"] == 2
    assert manifest["carried_forward"] == {"ar1_params": 1, "feature_medians": 1}
    assert manifest["trained_models"] == ["pca_model"]
    models = store.load_version(fd_fan)
    assert sorted(models) == sorted(MODEL_TYPES)
    assert models["pca_model"].value.run_id == second.run_id
    assert models["ar1_params"].value.run_id == first.run_id
    assert store.manifest(fd_fan, 1)["saved_models"] == sorted(MODEL_TYPES)


def test_scoring_loads_latest_complete_version_and_reports_it(instance, registry_url):
    train(instance, registry_url)
    train(instance, registry_url, only=["pca_model"])
    result = score(instance, registry_url, partition="2024-01-03|FD_FAN")
    assert metadata_of(result, "scores")["model_versions"] == {"FD_FAN": 2}
    (observation,) = [
        e.asset_observation_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert observation.metadata["model_version"].value == 2


def test_run_tag_pins_a_version(instance, registry_url):
    train(instance, registry_url)
    train(instance, registry_url, only=["pca_model"])
    result = score(instance, registry_url, partition="2024-01-03|FD_FAN", tags={"acm/model_version": "1"})
    assert metadata_of(result, "scores")["model_versions"] == {"FD_FAN": 1}


@pytest.mark.parametrize("tag, message", [("99", "version 99 .* does not exist"), ("latest", "not a positive")])
def test_bad_pinned_version_is_a_clear_error(instance, registry_url, tag, message):
    train(instance, registry_url)
    with pytest.raises(RegistryError, match=message):
        score(instance, registry_url, partition="2024-01-03|FD_FAN", tags={"acm/model_version": tag})


def test_multi_partition_run_gets_sorted_dict(instance, registry_url):
    train(instance, registry_url, partition="PUMP_A")
    train(instance, registry_url, partition="FD_FAN")
    train(instance, registry_url, partition="FD_FAN", only=["pca_model"])
    result = score(instance, registry_url, tags={RANGE_START: "2024-01-01|FD_FAN", RANGE_END: "2024-01-02|PUMP_A"})
    events = result.get_asset_materialization_events()
    assert len(events) == 4
    shown = {key: getattr(value, "value", value) for key, value in events[0].materialization.metadata.items()}
    assert shown["equipment_order"] == ["FD_FAN", "PUMP_A"]
    assert shown["model_versions"] == {"FD_FAN": 2, "PUMP_A": 1}


@dg.asset(
    name="pca_model",
    partitions_def=stand_in.equipment_partitions,
    io_manager_key=IO_MANAGER_KEY,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def pca_model_all_equipment(context: dg.AssetExecutionContext):
    return {key: stand_in.StandInModel("pca_model", key, context.run.run_id, 5.0) for key in context.partition_keys}


def test_training_over_several_partitions_stores_each_dict_entry(instance, registry_url, store, engine):
    dg.materialize(
        [pca_model_all_equipment],
        instance=instance,
        tags={RANGE_START: "FD_FAN", RANGE_END: "PUMP_A"},
        resources={IO_MANAGER_KEY: ModelRegistryIOManager(database_url=registry_url)},
    )
    resolver = EquipmentResolver(engine)
    for code in ("FD_FAN", "PUMP_A"):
        loaded = store.load(resolver.resolve(code), "pca_model")
        assert (loaded.version, loaded.value.equipment) == (1, code)


def test_unknown_equipment_is_a_clear_error(instance, registry_url):
    with pytest.raises(RegistryError, match="unknown equipment 'NOT_REGISTERED'"):
        train(instance, registry_url, partition="NOT_REGISTERED")


def test_hmac_key_refuses_unsigned_rows_before_unpickling(instance, registry_url):
    train(instance, registry_url)
    with pytest.raises(IntegrityError, match="manifest of equipment FD_FAN .* version 1: row is unsigned"):
        score(instance, registry_url, partition="2024-01-01|FD_FAN", hmac_key="secret")
    train(instance, registry_url, hmac_key="secret")
    result = score(instance, registry_url, partition="2024-01-01|FD_FAN", hmac_key="secret")
    assert metadata_of(result, "scores")["model_versions"] == {"FD_FAN": 2}


def test_retention_applies_on_commit(instance, registry_url, store, fd_fan):
    train(instance, registry_url, keep_versions=2)
    for _ in range(3):
        train(instance, registry_url, only=["pca_model"], keep_versions=2)
    assert [info.version for info in store.versions(fd_fan.equip_id)] == [4, 3]
    assert store.manifest(fd_fan)["carried_forward"] == {"ar1_params": 3, "feature_medians": 3}


def test_missing_table_fails_at_startup(instance, sqlite_url):
    with pytest.raises(dg.DagsterResourceFunctionError) as excinfo:
        train(instance, sqlite_url)
    assert isinstance(excinfo.value.__cause__, RegistrySchemaError)
    assert "ModelRegistry does not exist" in str(excinfo.value.__cause__)
    assert "acm registry init" in str(excinfo.value.__cause__)


@dg.asset(partitions_def=stand_in.scoring_partitions)
def two_model_scores(ar1_params, pca_model) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"versions": dg.MetadataValue.json([ar1_params.version, pca_model.version])})


def test_inputs_of_one_run_share_a_version_when_training_commits_between_loads(instance, registry_url, store, fd_fan):
    train(instance, registry_url)
    state = {"loaded": False, "committed": False}

    def after_execute(conn, clauseelement, multiparams, params, execution_options, result):
        sql = str(clauseelement)
        if isinstance(clauseelement, sa.Select) and "ModelBytes" in sql and "RunID" not in sql:  # a version load
            state["loaded"] = True

    def on_checkin(dbapi_connection, record):
        # Right after the first model load released its connection: another run commits version 2.
        if state["loaded"] and not state["committed"]:
            state["committed"] = True
            run_id = str(uuid.uuid4())
            store.save(fd_fan, "pca_model", {"new": True}, run_id=run_id, root_run_id=run_id, expected_types=["pca_model"])

    sa.event.listen(sa.Engine, "after_execute", after_execute)
    sa.event.listen(sa.pool.Pool, "checkin", on_checkin)
    try:
        result = dg.materialize(
            [two_model_scores, *training_assets],
            selection=[two_model_scores],
            partition_key="2024-01-01|FD_FAN",
            instance=instance,
            resources={IO_MANAGER_KEY: ModelRegistryIOManager(database_url=registry_url)},
        )
    finally:
        sa.event.remove(sa.Engine, "after_execute", after_execute)
        sa.event.remove(sa.pool.Pool, "checkin", on_checkin)
    assert state["committed"] and store.latest_version(fd_fan) == 2
    assert metadata_of(result, "two_model_scores")["versions"] == [1, 1]


@dg.asset(name="isolation_forest_model", partitions_def=stand_in.equipment_partitions, io_manager_key=IO_MANAGER_KEY)
def too_long_model_type():
    return {"trees": 100}


def test_asset_name_longer_than_model_type_column(instance, registry_url, store):
    with pytest.raises(ModelTypeError, match="'isolation_forest_model' .*asset isolation_forest_model.* 22 characters"):
        dg.materialize(
            [too_long_model_type],
            partition_key="FD_FAN",
            instance=instance,
            resources={IO_MANAGER_KEY: ModelRegistryIOManager(database_url=registry_url)},
        )
    assert store.versions() == []


def test_equipment_comes_from_the_multi_partition_dimension():
    manager = ModelRegistryIOManager(database_url="sqlite://")
    keys = [
        dg.MultiPartitionKey({"equipment": "PUMP_A", "day": "2024-01-02"}),
        dg.MultiPartitionKey({"equipment": "FD_FAN", "day": "2024-01-01"}),
        dg.MultiPartitionKey({"equipment": "PUMP_A", "day": "2024-01-01"}),
    ]
    assert manager._equipment_codes(keys, "pca_model") == ["FD_FAN", "PUMP_A"]
    with pytest.raises(RegistryError, match="pca_model: partition key .* has no dimension 'site'"):
        ModelRegistryIOManager(equipment_dimension="site")._equipment_codes(keys, "pca_model")


def test_unreachable_server_never_leaks_the_password(instance):
    url = "postgresql+psycopg://acm:Pa55-w0rd@127.0.0.1:1/acm?connect_timeout=2"
    with pytest.raises(dg.DagsterResourceFunctionError) as excinfo:
        train(instance, url)
    assert "127.0.0.1:1" in str(excinfo.value.__cause__)
    (run,) = instance.get_runs()
    logged = " ".join(
        f"{event.message} {event.dagster_event.event_specific_data if event.dagster_event else ''}"
        for event in instance.all_logs(run.run_id)
    )
    assert "127.0.0.1:1" in logged  # the failure is logged, with the URL redacted
    assert "Pa55-w0rd" not in logged and "Pa55-w0rd" not in str(excinfo.value.__cause__)


def _failure(result):
    """The run's one step failure: its error chain and the Failure's metadata."""
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return event.step_failure_data


def test_a_rerun_never_undoes_a_retrain_that_committed_while_it_ran(registry_url, store, fd_fan):
    """A full retrain's commit is held open (paused inside its committing transaction, holding the writers'
    lock) while a one-model rerun loads its base; the rerun's commit, which would carry the other models from
    the superseded version over the retrain, is refused and says so."""
    def training(**kwargs):
        with dg.instance_for_test() as instance:  # one per thread, closed there
            instance.add_dynamic_partitions("equipment", ["FD_FAN"])
            return train(instance, registry_url, **kwargs)

    training()
    retrain_in_commit, rerun_loaded, release = threading.Event(), threading.Event(), threading.Event()
    retrain_thread: list[threading.Thread] = []

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread() in retrain_thread and "INSERT" in statement and "'manifest'" in repr(parameters):
            retrain_in_commit.set()
            release.wait(timeout=60)

    def after_execute(conn, clauseelement, multiparams, params, execution_options, result):
        sql = str(clauseelement)
        if threading.current_thread() not in retrain_thread and "ModelBytes" in sql and "RunID" not in sql:
            rerun_loaded.set()  # a load from the version it resolved as its base

    results = {}
    retrain = threading.Thread(target=lambda: results.update(retrain=training()))
    retrain_thread.append(retrain)
    sa.event.listen(sa.Engine, "before_cursor_execute", before_execute)
    sa.event.listen(sa.Engine, "after_execute", after_execute)
    try:
        retrain.start()
        assert retrain_in_commit.wait(timeout=60)
        rerun = threading.Thread(
            target=lambda: results.update(rerun=training(only=["pca_model"], raise_on_error=False))
        )
        rerun.start()
        assert rerun_loaded.wait(timeout=60)  # the rerun read v1 as its base while the retrain's commit was open
        release.set()
        retrain.join(timeout=60)
        rerun.join(timeout=60)
    finally:
        release.set()
        sa.event.remove(sa.Engine, "before_cursor_execute", before_execute)
        sa.event.remove(sa.Engine, "after_execute", after_execute)
    assert results["retrain"].success and not results["rerun"].success
    failure = _failure(results["rerun"])
    assert "version 2 committed while this run ran and is now the latest" in failure.error.message
    metadata = {key: value.value for key, value in failure.user_failure_data.metadata.items()}
    assert metadata == {"commit": "refused", "base_version": 1, "latest_version": 2}
    assert store.latest_version(fd_fan) == 2 and store.manifest(fd_fan)["trained_models"] == sorted(MODEL_TYPES)

    # Launched again, the rerun fits against the retrain and carries from it.
    again = training(only=["pca_model"])
    assert metadata_of(again, "pca_model")["commit"] == "committed onto v2, the latest complete version at commit"
    assert store.manifest(fd_fan)["carried_forward"] == {"ar1_params": 2, "feature_medians": 2}


def test_a_rerun_carrying_a_row_with_broken_json_names_the_row(instance, registry_url, store, engine):
    train(instance, registry_url)
    with engine.begin() as conn:
        conn.execute(sa.update(model_registry).where(model_registry.c.ModelType == "ar1_params")
                     .values(ParamsJSON='{"lags": [1, 2,]}'))
    result = train(instance, registry_url, only=["pca_model"], raise_on_error=False)
    assert not result.success
    error, message = _failure(result).error, ""
    while error is not None:
        message, error = message + error.message, error.cause
    assert ("ModelRegistry row of equipment FD_FAN (EquipID 7), version 1, model type ar1_params: column ParamsJSON "
            "is not valid JSON") in message
