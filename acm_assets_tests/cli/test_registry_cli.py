"""`acm registry ...` end to end through the real `acm` entry point, on SQLite and PostgreSQL."""

import json
import uuid

import joblib
import pytest
import sqlalchemy as sa

from acm_assets.cli.main import main
from acm_assets.database import create_engine
from acm_assets.registry.equipment import EquipmentResolver
from acm_assets.registry.schema import model_registry
from acm_assets.registry.store import ModelStore
from acm_assets_tests.registry.conftest import create_equipment

TYPES = ("ar1_params", "pca_model")


@pytest.fixture
def url(database_url, capsys):
    assert main(["registry", "init", "--database-url", database_url]) == 0
    assert "created: ModelRegistry" in capsys.readouterr().out
    engine = create_engine(database_url)
    create_equipment(engine)
    engine.dispose()
    return database_url


def train(url, types=TYPES, expected=TYPES, code="FD_FAN"):
    engine = create_engine(url)
    store = ModelStore(engine)
    equipment = EquipmentResolver(engine).resolve(code)
    run_id = str(uuid.uuid4())
    for model_type in types:
        store.save(equipment, model_type, {"type": model_type}, run_id=run_id, root_run_id=run_id, expected_types=expected)
    engine.dispose()


def acm(capsys, *args):
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_init_is_idempotent(url, capsys):
    status, out, _ = acm(capsys, "registry", "init", "--database-url", url)
    assert status == 0 and "already present" in out


def test_list_show_prune(url, capsys, tmp_path, monkeypatch):
    for _ in range(3):
        train(url)
    train(url, types=("pca_model",))  # partial
    status, out, _ = acm(capsys, "registry", "list", "--database-url", url)
    lines = out.splitlines()
    assert status == 0 and len(lines) == 5
    assert lines[1].split()[:4] == ["FD_FAN", "7", "4", "partial"]
    assert lines[2].split()[:4] == ["FD_FAN", "7", "3", "complete"]
    assert lines[2].endswith("ar1_params,pca_model")

    status, out, _ = acm(capsys, "registry", "show", "FD_FAN", "--database-url", url)
    assert status == 0 and json.loads(out)["version"] == 3
    status, out, _ = acm(capsys, "registry", "show", "FD_FAN", "--version", "1", "--database-url", url)
    assert json.loads(out)["saved_models"] == list(TYPES)

    # The Dagster instance at $DAGSTER_HOME does not know the partial version's run: it is finished.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    status, out, _ = acm(
        capsys, "registry", "prune", "--keep", "1", "--stale-after-hours", "0", "--database-url", url
    )
    assert status == 0 and "3 version(s) deleted" in out and f"Dagster instance at {tmp_path}" in out
    assert "FD_FAN version 4 (stale partial)" in out
    status, out, _ = acm(capsys, "registry", "list", "--equipment", "FD_FAN", "--database-url", url)
    assert len(out.splitlines()) == 2 and out.splitlines()[1].split()[2] == "3"


def test_list_calls_a_version_complete_only_when_its_rows_verify(url, capsys):
    train(url)
    train(url)
    engine = create_engine(url)
    with engine.begin() as conn:  # a damaged blob: its SHA-256 no longer matches
        conn.execute(
            sa.update(model_registry)
            .where(model_registry.c.Version == 1, model_registry.c.ModelType == "pca_model")
            .values(ModelBytes=b"not the pickled model")
        )
    engine.dispose()
    status, out, _ = acm(capsys, "registry", "list", "--database-url", url)
    lines = out.splitlines()
    assert status == 0
    assert lines[1].split()[:4] == ["FD_FAN", "7", "2", "complete"]
    assert lines[2].split()[:4] == ["FD_FAN", "7", "1", "damaged"]
    assert lines[3].startswith("  refusing model type pca_model of equipment FD_FAN (EquipID 7) version 1: ")


def test_export_then_import_round_trip(url, capsys, tmp_path):
    train(url)
    status, out, _ = acm(capsys, "registry", "export", "FD_FAN", str(tmp_path / "out"), "--database-url", url)
    folder = tmp_path / "out" / "v1"
    assert status == 0 and str(folder) in out
    assert sorted(p.name for p in folder.iterdir()) == ["ar1_params.joblib", "manifest.json", "pca_model.joblib"]
    assert joblib.load(folder / "pca_model.joblib") == {"type": "pca_model"}

    status, out, _ = acm(capsys, "registry", "import", "GAS_TURBINE", str(folder), "--database-url", url)
    assert status == 0 and "as version 1 of GAS_TURBINE" in out
    engine = create_engine(url)
    store = ModelStore(engine)
    source = store.manifest(EquipmentResolver(engine).resolve("FD_FAN"))
    imported = store.manifest(EquipmentResolver(engine).resolve("GAS_TURBINE"))
    engine.dispose()
    for model_type in TYPES:
        assert imported["models"][model_type]["sha256"] == source["models"][model_type]["sha256"]
    assert imported["source"].startswith("import:")


def test_import_legacy_tree_takes_newest_version(url, capsys, tmp_path):
    for number, weight in ((2, 1.0), (11, 2.0)):
        folder = tmp_path / "artifacts" / "FD_FAN" / "models" / f"v{number}"
        folder.mkdir(parents=True)
        joblib.dump({"weight": weight}, folder / "iforest_model.joblib")
        (folder / "manifest.json").write_text(json.dumps({"version": number, "train_rows": 99, "saved_models": ["iforest_model"]}))
    status, out, _ = acm(capsys, "registry", "import", "FD_FAN", str(tmp_path / "artifacts"), "--database-url", url)
    assert status == 0 and "v11" in out
    engine = create_engine(url)
    loaded = ModelStore(engine).load(EquipmentResolver(engine).resolve("FD_FAN"), "iforest_model")
    engine.dispose()
    assert loaded.value == {"weight": 2.0} and loaded.stats["train_rows"] == 99


def test_bad_input_is_one_clear_line(sqlite_url, capsys, tmp_path):
    status, _, err = acm(capsys, "registry", "list", "--database-url", sqlite_url)
    assert status == 2 and "ModelRegistry does not exist" in err and "acm registry init" in err
    assert main(["registry", "init", "--database-url", sqlite_url]) == 0
    create_equipment(create_engine(sqlite_url))
    status, _, err = acm(capsys, "registry", "show", "NO_SUCH", "--database-url", sqlite_url)
    assert status == 2 and "unknown equipment 'NO_SUCH'" in err
    status, _, err = acm(capsys, "registry", "show", "FD_FAN", "--database-url", sqlite_url)
    assert status == 2 and "FD_FAN" in err and "no complete model version" in err
    status, _, err = acm(capsys, "registry", "import", "FD_FAN", str(tmp_path), "--database-url", sqlite_url)
    assert status == 2 and "no .joblib files" in err
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "pca_model.joblib").write_bytes(b"x")
    (tmp_path / "v1" / "manifest.json").write_text(json.dumps({"version": 1, "models": {"pca_model": {"sha256": "0" * 64}}}))
    status, _, err = acm(capsys, "registry", "import", "FD_FAN", str(tmp_path / "v1"), "--database-url", sqlite_url)
    assert status == 2 and "sha256 differs" in err


def test_hmac_key_from_environment_refuses_unsigned_export(url, capsys, tmp_path, monkeypatch):
    train(url)
    monkeypatch.setenv("ACM_REGISTRY_HMAC_KEY", "secret")
    status, _, err = acm(capsys, "registry", "export", "FD_FAN", str(tmp_path), "--database-url", url)
    assert status == 2 and "unsigned" in err


def test_unreachable_server_hides_password(capsys):
    status, out, err = acm(
        capsys, "registry", "init", "--database-url", "postgresql+psycopg://acm:pa55word@127.0.0.1:1/acm?connect_timeout=2"
    )
    assert status == 2 and "127.0.0.1:1" in err
    assert "pa55word" not in out + err
