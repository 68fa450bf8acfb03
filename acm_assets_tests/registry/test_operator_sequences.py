"""Operator sequences that broke the registry, replayed through real Dagster runs on SQLite and PostgreSQL:
re-executing an old failed run, pruning during a run, rows deleted under a run, replayed signed rows,
malicious unsigned rows, readers beside a writer, and a column someone else added."""

import io
import json
import threading
import uuid

import dagster as dg
import joblib
import pytest
import sqlalchemy as sa

from acm_assets.cli.main import main
from acm_assets.database import create_engine
from acm_assets.registry import integrity
from acm_assets.registry.errors import IncompleteRunError, IntegrityError, RegistryError, RegistrySchemaError
from acm_assets.registry.io_manager import UNSIGNED_WARNING
from acm_assets.registry.schema import model_registry as t
from acm_assets.registry.store import MANIFEST
from acm_assets_tests.registry import stand_in
from acm_assets_tests.registry.stand_in import MODEL_TYPES
from acm_assets_tests.registry.test_io_manager import score, train
from acm_assets_tests.registry.test_store import Exploit

IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
PARTITION = {"dagster/partition": "FD_FAN"}


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """A persistent instance under DAGSTER_HOME, as the CLI and the webserver would find it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        instance.add_dynamic_partitions("equipment", ["FD_FAN", "PUMP_A"])
        yield instance


def execute(instance, **kwargs):
    with dg.execute_job(dg.reconstructable(stand_in.training_job), instance, run_config=IN_PROCESS, tags=PARTITION, **kwargs) as result:
        return result.success, result.run_id


class GatedRun:
    """A training run in a thread that stops inside its last step, `pca_model` (its input loaded,
    feature_medians and ar1_params stored), until released: a run really in progress, as the instance sees it."""

    def __init__(self, instance, tmp_path, monkeypatch):
        self.marker, self.release = tmp_path / "hanging", tmp_path / "release"
        monkeypatch.setenv("ACM_TEST_HANG_ASSET", "pca_model")
        monkeypatch.setenv("ACM_TEST_HANG_MARKER", str(self.marker))
        monkeypatch.setenv("ACM_TEST_RELEASE_FILE", str(self.release))
        self.outcome = {}
        self.thread = threading.Thread(target=lambda: self.outcome.update(zip(("success", "run_id"), execute(instance))))
        self.thread.start()
        self.thread.join(timeout=0.05)
        for _ in range(1200):
            if self.marker.exists() or not self.thread.is_alive():
                break
            self.thread.join(timeout=0.05)
        assert self.marker.exists(), "the run never reached pca_model"

    def finish(self) -> dict:
        self.release.write_text("go")
        self.thread.join(timeout=120)
        assert not self.thread.is_alive()
        return self.outcome


def test_reexecuting_an_old_failed_run_keeps_what_it_reports(instance, registry_url, store, fd_fan, monkeypatch):
    """B: ten newer versions exist; the re-execution commits the old run's version and it stays, served."""
    monkeypatch.setenv("ACM_TEST_REGISTRY_URL", registry_url)
    monkeypatch.setenv("ACM_TEST_FAIL_ASSETS", "pca_model")
    success, failed_run_id = execute(instance)
    assert not success
    monkeypatch.delenv("ACM_TEST_FAIL_ASSETS")
    for _ in range(10):
        assert execute(instance)[0]
    options = dg.ReexecutionOptions.from_failure(failed_run_id, instance)
    with dg.execute_job(
        dg.reconstructable(stand_in.training_job), instance, run_config=IN_PROCESS, tags=PARTITION, reexecution_options=options
    ) as retried:
        assert retried.success
        (event,) = [e for e in retried.get_asset_materialization_events() if e.asset_key.path[-1] == "pca_model"]
        reported = event.materialization.metadata["model_version"].value
    assert reported == 1
    assert store.manifest(fd_fan, reported)["saved_models"] == sorted(MODEL_TYPES)
    assert store.latest_version(fd_fan) == reported  # the newest commit, whatever its number
    versions = [info.version for info in store.versions(fd_fan.equip_id)]
    assert versions == [1, *range(11, 2, -1)]  # ten kept by commit time: the oldest commit (v2) went


def test_prune_during_a_run_keeps_its_pending_version(instance, registry_url, store, fd_fan, monkeypatch, tmp_path, capsys):
    """C: `acm registry prune --stale-after-hours 0` asks the instance and leaves the live run's rows alone."""
    monkeypatch.setenv("ACM_TEST_REGISTRY_URL", registry_url)
    gated = GatedRun(instance, tmp_path, monkeypatch)
    try:
        assert main(["registry", "prune", "--stale-after-hours", "0", "--database-url", registry_url]) == 0
        assert "0 version(s) deleted" in capsys.readouterr().out
        assert [info.model_types for info in store.versions(fd_fan.equip_id)] == [("ar1_params", "feature_medians")]
    finally:
        outcome = gated.finish()
    assert outcome["success"]
    (info,) = store.versions(fd_fan.equip_id)
    assert info.complete and info.model_types == tuple(sorted(MODEL_TYPES))


def test_a_run_whose_rows_were_deleted_ends_failed(instance, registry_url, engine, store, fd_fan, monkeypatch, tmp_path):
    """C: rows deleted under a run (by hand, or by a prune that could not ask the instance) fail the run."""
    monkeypatch.setenv("ACM_TEST_REGISTRY_URL", registry_url)
    gated = GatedRun(instance, tmp_path, monkeypatch)
    with engine.begin() as conn:
        conn.execute(sa.delete(t))
    outcome = gated.finish()
    assert not outcome["success"]
    failures = [
        str(event.dagster_event.event_specific_data.error)
        for event in instance.all_logs(outcome["run_id"])
        if event.dagster_event and event.dagster_event.event_type_value == "STEP_FAILURE"
    ]
    assert any(
        IncompleteRunError.__name__ in failure
        and "ar1_params, feature_medians were stored earlier in this run but are gone" in failure
        for failure in failures
    ), failures
    assert not any(info.complete for info in store.versions(fd_fan.equip_id))


def test_partial_versions_of_finished_runs_are_pruned_automatically(instance, registry_url, store, fd_fan, monkeypatch):
    monkeypatch.setenv("ACM_TEST_REGISTRY_URL", registry_url)
    monkeypatch.setenv("ACM_TEST_FAIL_ASSETS", "pca_model")
    assert not execute(instance)[0]
    monkeypatch.delenv("ACM_TEST_FAIL_ASSETS")
    # Within the grace period the failed run's partial version stays (re-execute from failure completes it).
    train(instance, registry_url)
    assert [(info.version, info.complete) for info in store.versions(fd_fan.equip_id)] == [(2, True), (1, False)]
    train(instance, registry_url, stale_partial_hours=0)
    assert [(info.version, info.complete) for info in store.versions(fd_fan.equip_id)] == [(3, True), (2, True)]


def copy_row(engine, equipment, model_type, source, target):
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(t.c.ModelBytes, t.c.StatsJSON, t.c.ParamsJSON).where(
                t.c.EquipID == equipment.equip_id, t.c.Version == source, t.c.ModelType == model_type
            )
        ).one()
        conn.execute(
            sa.update(t)
            .where(t.c.EquipID == equipment.equip_id, t.c.Version == target, t.c.ModelType == model_type)
            .values(ModelBytes=row.ModelBytes, StatsJSON=row.StatsJSON, ParamsJSON=row.ParamsJSON)
        )


def test_a_replayed_signed_row_is_refused(instance, registry_url, engine, fd_fan):
    """D: the previous version's validly signed pca_model row copied into the latest version."""
    train(instance, registry_url, hmac_key="k1")
    train(instance, registry_url, hmac_key="k1")
    copy_row(engine, fd_fan, "pca_model", source=1, target=2)
    with pytest.raises(IntegrityError, match="pca_model of equipment FD_FAN .* version 2: .*manifest lists"):
        score(instance, registry_url, partition="2024-01-01|FD_FAN", hmac_key="k1")


def test_a_replayed_manifest_is_refused(instance, registry_url, engine, fd_fan):
    train(instance, registry_url, hmac_key="k1")
    train(instance, registry_url, hmac_key="k1")
    for model_type in (*MODEL_TYPES, MANIFEST):
        copy_row(engine, fd_fan, model_type, source=1, target=2)
    with pytest.raises(IntegrityError, match="manifest of equipment FD_FAN .* version 2: HMAC signature does not match"):
        score(instance, registry_url, partition="2024-01-01|FD_FAN", hmac_key="k1")


def test_unsigned_rows_are_checked_against_the_manifest_and_warned_about(instance, registry_url, engine, fd_fan, tmp_path):
    """D without a key: a malicious pickle whose SHA-256 was recomputed in StatsJSON never runs."""
    train(instance, registry_url)
    result = score(instance, registry_url, partition="2024-01-01|FD_FAN")
    warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == 30]  # logging.WARNING
    assert any(UNSIGNED_WARNING in message for message in warnings)

    canary = tmp_path / "exploited"
    buffer = io.BytesIO()
    joblib.dump(Exploit(str(canary)), buffer)
    evil = buffer.getvalue()
    with engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.EquipID == fd_fan.equip_id, t.c.Version == 1, t.c.ModelType == "pca_model")
            .values(ModelBytes=evil, StatsJSON=json.dumps({"sha256": integrity.sha256_hex(evil), "format": "joblib"}))
        )
    with pytest.raises(IntegrityError, match="pca_model of equipment FD_FAN .* version 1: .*manifest lists"):
        score(instance, registry_url, partition="2024-01-01|FD_FAN")
    assert not canary.exists()


def test_readers_do_not_wait_for_a_writer(instance, registry_url, store, fd_fan):
    """A scoring run loads its models while another connection holds a write transaction open."""
    train(instance, registry_url)
    writer = create_engine(registry_url)
    with writer.connect() as conn:
        conn.begin()
        conn.execute(sa.update(t).where(t.c.EquipID == -1).values(Version=0))  # take the write lock
        result = score(instance, registry_url, partition="2024-01-01|FD_FAN")
        conn.rollback()
    writer.dispose()
    assert result.success


def add_not_null_column(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE "ModelRegistry" ADD COLUMN "Owner" VARCHAR(20) NOT NULL DEFAULT \'x\'')
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql('ALTER TABLE "ModelRegistry" ALTER COLUMN "Owner" DROP DEFAULT')


def test_a_not_null_column_without_default_fails_at_startup_naming_it(instance, registry_url, engine, store):
    if engine.dialect.name == "sqlite":  # SQLite cannot drop a default: build the table that way
        with engine.begin() as conn:
            conn.exec_driver_sql('ALTER TABLE "ModelRegistry" RENAME TO "old"')
            conn.exec_driver_sql(
                'CREATE TABLE "ModelRegistry" ("ModelType" VARCHAR(16) NOT NULL, "EquipID" INTEGER NOT NULL, '
                '"Version" INTEGER NOT NULL, "EntryDateTime" DATETIME, "ParamsJSON" TEXT, "StatsJSON" TEXT, '
                '"RunID" CHAR(32), "ModelBytes" BLOB, "Owner" VARCHAR(20) NOT NULL, PRIMARY KEY ("EquipID", "Version", "ModelType"))'
            )
    else:
        add_not_null_column(engine)
    with pytest.raises(dg.DagsterResourceFunctionError) as excinfo:
        train(instance, registry_url)
    assert isinstance(excinfo.value.__cause__, RegistrySchemaError)
    assert "column Owner is NOT NULL without a default" in str(excinfo.value.__cause__)
    assert store.versions() == []


def test_a_constraint_violation_is_not_retried(registry_url, engine, store, fd_fan):
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql('CREATE TRIGGER refuse BEFORE INSERT ON "ModelRegistry" BEGIN '
                                 "SELECT RAISE(ABORT, 'NOT NULL constraint failed: ModelRegistry.Owner'); END")
    else:
        add_not_null_column(engine)
    attempts = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: attempts.append(args[2]) if args[2].startswith("INSERT") else None)
    run_id = str(uuid.uuid4())
    with pytest.raises(RegistryError, match="saving model type pca_model of equipment FD_FAN .*(NOT NULL|null value)"):
        store.save(fd_fan, "pca_model", {"m": 1}, run_id=run_id, root_run_id=run_id, expected_types=["pca_model"])
    assert len(attempts) == 1


def test_sign_turns_a_key_on_without_retraining(instance, registry_url, monkeypatch, capsys):
    train(instance, registry_url)
    train(instance, registry_url, only=["pca_model"])
    with pytest.raises(IntegrityError, match="row is unsigned"):
        score(instance, registry_url, partition="2024-01-01|FD_FAN", hmac_key="k1")
    monkeypatch.setenv("ACM_REGISTRY_HMAC_KEY", "k1")
    assert main(["registry", "sign", "--database-url", registry_url]) == 0
    assert "2 version(s) signed" in capsys.readouterr().out
    result = score(instance, registry_url, partition="2024-01-01|FD_FAN", hmac_key="k1")
    assert result.success

    # Rotation: the old signatures are checked with the previous key before the new key signs.
    monkeypatch.setenv("ACM_REGISTRY_HMAC_KEY", "k2")
    monkeypatch.setenv("OLD_KEY", "k1")
    assert main(["registry", "sign", "--previous-key-env", "OLD_KEY", "--database-url", registry_url]) == 0
    assert score(instance, registry_url, partition="2024-01-01|FD_FAN", hmac_key="k2").success
    with pytest.raises(IntegrityError, match="HMAC"):
        score(instance, registry_url, partition="2024-01-01|FD_FAN", hmac_key="k1")


def test_sign_refuses_a_tampered_version(instance, registry_url, engine, fd_fan, monkeypatch, capsys):
    train(instance, registry_url)
    train(instance, registry_url)
    copy_row(engine, fd_fan, "pca_model", source=1, target=2)
    monkeypatch.setenv("ACM_REGISTRY_HMAC_KEY", "k1")
    assert main(["registry", "sign", "--database-url", registry_url]) == 2
    assert "pca_model of equipment FD_FAN (EquipID 7) version 2" in capsys.readouterr().err
    with engine.connect() as conn:
        stats = [json.loads(s) for s in conn.execute(sa.select(t.c.StatsJSON).where(t.c.Version == 2)).scalars()]
    assert not any("hmac" in entry for entry in stats)


def test_production_profile_refuses_to_start_without_a_key(instance, registry_url):
    with pytest.raises(dg.DagsterResourceFunctionError) as excinfo:
        train(instance, registry_url, require_signing=True)
    assert "requires signed ModelRegistry rows" in str(excinfo.value.__cause__)
    assert train(instance, registry_url, require_signing=True, hmac_key="k1").success


def test_prune_without_an_instance_holds_a_fresh_pending_version_by_its_lease(registry_url, store, fd_fan, monkeypatch, capsys):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    run_id = str(uuid.uuid4())
    store.save(fd_fan, "pca_model", {"m": 1}, run_id=run_id, root_run_id=run_id, expected_types=MODEL_TYPES)
    assert main(["registry", "prune", "--stale-after-hours", "0", "--database-url", registry_url]) == 0
    out = capsys.readouterr().out
    assert "no Dagster instance" in out and "0 version(s) deleted" in out
    assert len(store.versions(fd_fan.equip_id)) == 1



def make_legacy(engine, equipment, version):
    """Turn a version's manifest into one written before consistency records existed (no key: rehashed)."""
    with engine.connect() as conn:
        payload = conn.execute(
            sa.select(t.c.ModelBytes).where(t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == MANIFEST)
        ).scalar_one()
    manifest = json.loads(payload)
    manifest.pop("consistent")
    payload = json.dumps(manifest).encode()
    stats = json.dumps({"sha256": integrity.sha256_hex(payload), "bytes": len(payload)})
    with engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == MANIFEST)
            .values(ModelBytes=payload, StatsJSON=stats)
        )


def test_scoring_skips_a_version_without_consistency_records_and_says_so(instance, registry_url, engine, fd_fan):
    train(instance, registry_url)
    train(instance, registry_url, only=["pca_model"])
    make_legacy(engine, fd_fan, 2)
    result = score(instance, registry_url, partition="2024-01-01|FD_FAN")
    (scores,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "scores"]
    assert scores.materialization.metadata["model_versions"].value == {"FD_FAN": 1}
    notes = [
        entry.metadata
        for e in result.all_events
        if e.event_type_value == "LOADED_INPUT"
        for entry in [e.event_specific_data]
    ]
    assert any(meta.get("note") and "v2 skipped; using v1" in meta["note"].value for meta in notes), notes
    make_legacy(engine, fd_fan, 1)
    with pytest.raises(RegistryError, match="no consistent complete model version: v2, v1 .*run the training job once"):
        score(instance, registry_url, partition="2024-01-01|FD_FAN")
