"""ModelStore on a real SQLite file and a real PostgreSQL database: versions, integrity, retention, bad input."""

import io
import json
import uuid
from datetime import timedelta
from pathlib import Path

import joblib
import pytest
import sqlalchemy as sa

from acm_assets.database import DatabaseConnectionError, create_engine
from acm_assets.registry import integrity
from acm_assets.registry.equipment import Equipment, EquipmentResolver
from acm_assets.registry.errors import (
    IntegrityError,
    ModelTypeError,
    RegistryError,
    RegistrySchemaError,
    SerializationError,
    UnknownEquipmentError,
    VersionNotFoundError,
)
from acm_assets.registry.schema import check_registry_table, create_registry_table, model_registry as t
from acm_assets.registry.store import MANIFEST, ModelStore, TrainingInfo, is_transient

TYPES = ("ar1_params", "pca_model")


def run(store, equipment, types=TYPES, expected=TYPES, root=None, value=None):
    run_id = str(uuid.uuid4())
    results = [
        store.save(
            equipment,
            model_type,
            value if value is not None else {"type": model_type, "run": run_id},
            run_id=run_id,
            root_run_id=root or run_id,
            expected_types=expected,
            info=TrainingInfo(params={"k": 1}, train_rows=10, train_sensors=["a"], config_signature="sig"),
        )
        for model_type in types
    ]
    return run_id, results


def set_column(engine, equipment, version, model_type, **values):
    with engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == model_type)
            .values(**values)
        )


class Exploit:
    """Unpickling this creates a file: proof that joblib.load ran code."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_version_becomes_visible_only_with_its_last_model(store, fd_fan):
    run_id, (first, last) = run(store, fd_fan)
    assert (first.version, first.complete, first.missing) == (1, False, ("pca_model",))
    assert (last.version, last.complete) == (1, True)
    assert store.load(fd_fan, "pca_model").value == {"type": "pca_model", "run": run_id}


def test_partial_version_is_invisible_to_readers(store, fd_fan):
    run(store, fd_fan)
    run(store, fd_fan, types=("ar1_params",))
    assert store.latest_version(fd_fan) == 1
    with pytest.raises(VersionNotFoundError, match="version 2 of equipment FD_FAN .* incomplete"):
        store.load(fd_fan, "ar1_params", version=2)


def test_retried_step_replaces_its_own_row_in_the_same_version(store, fd_fan, engine):
    root = str(uuid.uuid4())
    run(store, fd_fan, types=("ar1_params",), root=root, value={"attempt": 1})
    run(store, fd_fan, types=("ar1_params",), root=root, value={"attempt": 2})
    _, (result,) = run(store, fd_fan, types=("pca_model",), root=root)
    assert result.version == 1 and result.complete
    assert store.load(fd_fan, "ar1_params").value == {"attempt": 2}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() == 3


def test_finished_run_group_starts_a_new_version(store, fd_fan):
    root = str(uuid.uuid4())
    run(store, fd_fan, root=root)
    _, (result,) = run(store, fd_fan, types=("pca_model",), expected=("pca_model",), root=root)
    assert result.version == 2 and result.carried_forward == {"ar1_params": 1}


def test_subset_carries_forward_server_side(store, fd_fan):
    first_run, _ = run(store, fd_fan)
    _, (result,) = run(store, fd_fan, types=("pca_model",), expected=("pca_model",))
    assert result.carried_forward == {"ar1_params": 1}
    manifest = store.manifest(fd_fan)
    assert manifest["carried_forward"] == {"ar1_params": 1} and manifest["base_version"] == 1
    assert manifest["models"]["ar1_params"]["carried_from"] == 1
    assert store.load(fd_fan, "ar1_params").value == {"type": "ar1_params", "run": first_run}
    assert store.load(fd_fan, "ar1_params").version == 2


def test_manifest_carries_the_seed_fields(store, fd_fan):
    run(store, fd_fan)
    manifest = store.manifest(fd_fan)
    for key in ("version", "source", "equip", "saved_models", "train_rows", "train_sensors", "config_signature", "created_at"):
        assert key in manifest
    assert (manifest["equip"], manifest["saved_models"], manifest["train_rows"]) == ("FD_FAN", list(TYPES), 10)
    assert manifest["models"]["pca_model"]["params"] == {"k": 1}


def test_retention_keeps_newest_complete_versions(store, fd_fan):
    for _ in range(4):
        run(store, fd_fan)
    run(store, fd_fan, types=("ar1_params",))  # a fresh partial version: not stale yet
    removed = store.prune(keep=2)
    assert removed == [(fd_fan.equip_id, 2, "beyond newest 2"), (fd_fan.equip_id, 1, "beyond newest 2")]
    assert [(info.version, info.complete) for info in store.versions()] == [(5, False), (4, True), (3, True)]
    assert store.prune(keep=2, stale_after=timedelta(0)) == []  # its run may still be writing: its lease holds
    finished = store.prune(keep=2, stale_after=timedelta(0), liveness=lambda run_id: False)
    assert finished == [(fd_fan.equip_id, 5, "stale partial")]


def test_default_retention_is_ten_versions(store, fd_fan):
    for _ in range(12):
        run(store, fd_fan, types=("pca_model",), expected=("pca_model",))
    assert [info.version for info in store.versions()] == list(range(12, 2, -1))


def test_sha256_is_checked_on_every_load(store, fd_fan, engine):
    run(store, fd_fan)
    payload = store.load_bytes(fd_fan, "pca_model", 1)
    set_column(engine, fd_fan, 1, "pca_model", ModelBytes=payload[:-7])
    with pytest.raises(IntegrityError, match="pca_model of equipment FD_FAN .* version 1: sha256 mismatch"):
        store.load(fd_fan, "pca_model")
    set_column(engine, fd_fan, 1, "pca_model", ModelBytes=b"\x00" * len(payload))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        store.load(fd_fan, "pca_model")
    assert store.load(fd_fan, "ar1_params").value["type"] == "ar1_params"


def test_matching_hash_but_unreadable_bytes_is_a_clear_error(store, fd_fan):
    store.import_version(fd_fan, {"pca_model": (b"not a pickle", TrainingInfo())}, source="test")
    with pytest.raises(IntegrityError, match="cannot unpickle model type pca_model of equipment FD_FAN .* version 1"):
        store.load(fd_fan, "pca_model")


def rewrite_manifest(engine, equipment, version, model_type, digest):
    """What someone who can write the table but holds no key can do: make the manifest list new bytes."""
    with engine.connect() as conn:
        payload = conn.execute(
            sa.select(t.c.ModelBytes).where(t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == MANIFEST)
        ).scalar_one()
    manifest = json.loads(payload)
    manifest["models"][model_type]["sha256"] = digest
    payload = json.dumps(manifest).encode()
    stats = {"sha256": integrity.sha256_hex(payload), "bytes": len(payload), "consistent": True}
    set_column(engine, equipment, version, MANIFEST, ModelBytes=payload, StatsJSON=json.dumps(stats))


def test_hmac_refuses_unsigned_and_tampered_rows_before_unpickling(engine, fd_fan, tmp_path):
    signed = ModelStore(engine, hmac_key="k1")
    run(signed, fd_fan)
    assert signed.load(fd_fan, "pca_model").value["type"] == "pca_model"
    assert ModelStore(engine).load(fd_fan, "pca_model").value["type"] == "pca_model"  # no key: SHA-256 only
    with pytest.raises(IntegrityError, match="HMAC signature does not match"):
        ModelStore(engine, hmac_key="other").load(fd_fan, "pca_model")

    canary = tmp_path / "exploited"
    buffer = io.BytesIO()
    joblib.dump(Exploit(str(canary)), buffer)
    evil = buffer.getvalue()
    digest = integrity.sha256_hex(evil)
    set_column(engine, fd_fan, 1, "pca_model", ModelBytes=evil, StatsJSON=json.dumps({"sha256": digest}))
    # Without a key the row's recomputed SHA-256 passes, but the manifest's record of it does not.
    with pytest.raises(IntegrityError, match="pca_model of equipment FD_FAN .* version 1: the row's sha256 .* manifest lists"):
        ModelStore(engine).load(fd_fan, "pca_model")
    rewrite_manifest(engine, fd_fan, 1, "pca_model", digest)
    with pytest.raises(IntegrityError, match="manifest of equipment FD_FAN .* version 1: row is unsigned"):
        signed.load(fd_fan, "pca_model")
    assert not canary.exists()
    ModelStore(engine).load(fd_fan, "pca_model")  # manifest rewritten too, no key: this is what HMAC prevents
    assert canary.exists()


def test_signature_binds_equipment_and_type(engine, fd_fan):
    signed = ModelStore(engine, hmac_key="k1")
    run(signed, fd_fan)
    with engine.connect() as conn:
        ar1_stats = conn.execute(
            sa.select(t.c.StatsJSON, t.c.ModelBytes).where(t.c.ModelType == "ar1_params", t.c.Version == 1)
        ).one()
    set_column(engine, fd_fan, 1, "pca_model", StatsJSON=ar1_stats.StatsJSON, ModelBytes=ar1_stats.ModelBytes)
    with pytest.raises(IntegrityError, match="HMAC"):
        signed.load(fd_fan, "pca_model")


def test_carried_forward_rows_keep_valid_signatures(engine, fd_fan):
    signed = ModelStore(engine, hmac_key="k1")
    run(signed, fd_fan)
    run(signed, fd_fan, types=("pca_model",), expected=("pca_model",))
    assert signed.load(fd_fan, "ar1_params").version == 2
    assert signed.manifest(fd_fan)["version"] == 2


def test_model_type_longer_than_16_characters(store, fd_fan):
    with pytest.raises(ModelTypeError, match="'isolation_forest_model' of equipment FD_FAN .* 22 characters"):
        run(store, fd_fan, types=("isolation_forest_model",), expected=("isolation_forest_model",))
    with pytest.raises(ModelTypeError, match="reserved"):
        run(store, fd_fan, types=(MANIFEST,), expected=(MANIFEST,))
    assert store.versions() == []


def test_unpicklable_object(store, fd_fan):
    with pytest.raises(SerializationError, match="model type pca_model of equipment FD_FAN .*no version written"):
        run(store, fd_fan, types=("pca_model",), value={"f": lambda x: x})
    assert store.versions() == []


def test_version_lacking_a_type(store, fd_fan):
    run(store, fd_fan)
    with pytest.raises(VersionNotFoundError, match="version 1 of equipment FD_FAN .* no model type omr_model"):
        store.load(fd_fan, "omr_model")


def test_no_silent_fallback_when_pinned_version_is_gone(store, fd_fan):
    for _ in range(3):
        run(store, fd_fan)
    store.prune(keep=1)
    with pytest.raises(VersionNotFoundError, match="version 2 of equipment FD_FAN .*does not exist"):
        store.load(fd_fan, "pca_model", version=2)


def test_unknown_equipment(engine):
    with pytest.raises(UnknownEquipmentError, match="unknown equipment 'NOPE'"):
        EquipmentResolver(engine).resolve("NOPE")


def test_missing_equipment_table(sqlite_url):
    engine = create_engine(sqlite_url)
    with pytest.raises(UnknownEquipmentError, match="table Equipment does not exist"):
        EquipmentResolver(engine).resolve("FD_FAN")


def test_missing_table(database_url):
    engine = create_engine(database_url)
    with pytest.raises(RegistrySchemaError, match="ModelRegistry does not exist .*acm registry init"):
        check_registry_table(engine)
    with pytest.raises(RegistryError, match="FD_FAN"):
        ModelStore(engine).latest_version(Equipment(1, "FD_FAN"))


def test_init_creates_only_a_missing_table(database_url):
    engine = create_engine(database_url)
    assert create_registry_table(engine) is True
    assert create_registry_table(engine) is False
    check_registry_table(engine)
    assert sorted(sa.inspect(engine).get_table_names()) == ["ModelRegistry", "ModelTrainingData"]


def test_incompatible_existing_table(database_url):
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            'CREATE TABLE "ModelRegistry" ("ModelType" VARCHAR(8), "EquipID" INTEGER, "Version" VARCHAR(10), '
            '"EntryDateTime" TIMESTAMP, "ParamsJSON" TEXT, "RunID" VARCHAR(36))'
        )
    with pytest.raises(RegistrySchemaError) as excinfo:
        check_registry_table(engine)
    message = str(excinfo.value)
    assert "column Version is" in message
    assert "column StatsJSON is missing" in message and "column ModelBytes is missing" in message
    assert "ModelType holds 8 characters" in message


def test_unreachable_server_error_says_so_and_hides_the_password():
    engine = create_engine("postgresql+psycopg://acm:s3cretpw@127.0.0.1:1/acm?connect_timeout=2")
    for attempt in (lambda: check_registry_table(engine), lambda: ModelStore(engine).load(Equipment(1, "FD"), "pca")):
        with pytest.raises(DatabaseConnectionError) as excinfo:
            attempt()
        message = str(excinfo.value)
        assert "acm:***@127.0.0.1:1/acm" in message and "is unreachable" in message and "s3cretpw" not in message


@pytest.mark.parametrize(
    "error, transient",
    [
        (sa.exc.OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")), True),
        (sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")), True),
        (sa.exc.DBAPIError("SELECT", {}, Exception("40001", "[40001] deadlock victim (1205)")), True),
        (sa.exc.DBAPIError("SELECT", {}, Exception("HYT00", "[HYT00] lock request time out")), True),
        (sa.exc.ProgrammingError("SELECT", {}, Exception("42S02", "Invalid object name")), False),
    ],
)
def test_which_driver_errors_are_retried(error, transient):
    assert is_transient(error) is transient
