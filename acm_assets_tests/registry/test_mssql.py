"""SQL Server compile-level checks: no server runs here, so the DDL and every statement the store issues
(captured from a real run on SQLite) are rendered with the mssql dialect."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateTable

from acm_assets.database import create_engine
from acm_assets.registry.equipment import EquipmentResolver
from acm_assets.registry.schema import create_registry_table, model_registry
from acm_assets.registry.store import ModelStore, TrainingInfo, dumps, max_version_statement
from acm_assets_tests.registry.conftest import create_equipment

DIALECT = mssql.dialect()


def test_ddl_uses_explicit_sql_server_types():
    ddl = str(CreateTable(model_registry).compile(dialect=DIALECT))
    for expected in (
        "[ModelType] VARCHAR(16) NOT NULL",
        "[EquipID] INTEGER NOT NULL",
        "[Version] INTEGER NOT NULL",
        "[EntryDateTime] DATETIME2",
        "[ParamsJSON] NVARCHAR(max)",
        "[StatsJSON] NVARCHAR(max)",
        "[RunID] UNIQUEIDENTIFIER NULL",
        "[ModelBytes] VARBINARY(max)",
        "PRIMARY KEY ([EquipID], [Version], [ModelType])",
    ):
        assert expected in ddl
    assert "IMAGE" not in ddl and "NTEXT" not in ddl and " TEXT" not in ddl


@pytest.fixture
def issued(sqlite_url):
    """Every statement a full store workflow issues (run on SQLite), with its parameter sets."""
    engine = create_engine(sqlite_url)
    create_registry_table(engine)
    create_equipment(engine)
    fd_fan = EquipmentResolver(engine).resolve("FD_FAN")
    captured = []

    @sa.event.listens_for(engine, "before_execute")
    def capture(conn, clauseelement, multiparams, params, execution_options):
        if isinstance(clauseelement, sa.sql.ClauseElement):
            captured.append((clauseelement, multiparams, params))

    store = ModelStore(engine, hmac_key="k")
    for types in (("ar1_params", "pca_model"), ("pca_model",)):
        run_id = str(uuid.uuid4())
        for model_type in types:
            store.save(fd_fan, model_type, {"m": model_type}, run_id=run_id, root_run_id=run_id, expected_types=types)
    store.import_version(fd_fan, {"pca_model": (dumps({"m": 1}, fd_fan, "pca_model"), TrainingInfo())}, source="import")
    store.load_version(fd_fan)
    store.load(fd_fan, "pca_model", version=2)
    store.load_bytes(fd_fan, "pca_model", 2)
    store.load_from_run(fd_fan, "pca_model", run_id)
    store.manifest(fd_fan, 1)
    store.versions()
    store.prune(keep=1, stale_after=timedelta(0))
    engine.dispose()
    return captured


def test_every_statement_compiles_for_sql_server(issued):
    rendered = [str(statement.compile(dialect=DIALECT)) for statement, _, _ in issued]
    assert len(rendered) > 30
    for sql in rendered:
        assert "IMAGE" not in sql and "NTEXT" not in sql
        assert "FOR UPDATE" not in sql  # renders nothing on SQL Server: hints do the locking there
    kinds = {sql.split()[0] for sql in rendered}
    assert kinds == {"SELECT", "INSERT", "DELETE"}


def test_version_allocation_holds_the_equipment_range(issued):
    allocation = str(max_version_statement(7).compile(dialect=DIALECT))
    assert "FROM [ModelRegistry] WITH (UPDLOCK, HOLDLOCK)" in allocation
    rendered = [str(statement.compile(dialect=DIALECT)) for statement, _, _ in issued]
    writes = [i for i, sql in enumerate(rendered) if sql.startswith(("INSERT", "DELETE"))]
    locks = [i for i, sql in enumerate(rendered) if "WITH (UPDLOCK, HOLDLOCK)" in sql]
    assert locks and locks[0] < writes[0]


def test_blobs_go_one_row_per_insert(issued):
    inserts = [(statement, multiparams) for statement, multiparams, _ in issued if isinstance(statement, sa.Insert)]
    assert inserts
    for statement, multiparams in inserts:
        assert len(multiparams) <= 1, "executemany with binary parameters is unsafe on pyodbc"


def test_carry_forward_copies_inside_the_server(issued):
    copies = [
        str(statement.compile(dialect=DIALECT))
        for statement, _, _ in issued
        if isinstance(statement, sa.Insert) and statement.select is not None
    ]
    assert copies
    for sql in copies:
        assert "INSERT INTO [ModelRegistry]" in sql and "SELECT [ModelRegistry].[ModelType]" in sql
        assert "[ModelRegistry].[ModelBytes]" in sql
