import ctypes.util
import subprocess
import sys

import pytest
import sqlalchemy as sa

from acm_assets.cli.main import main
from acm_assets.database import DatabaseConnectionError, create_engine, default_database_url, redact
from acm_assets.ingest.historian import HistorianStore
from acm_assets.registry.equipment import EquipmentResolver
from acm_assets.registry.schema import check_registry_table, create_registry_table
from acm_assets.registry.store import ModelStore
from acm_assets_tests.conftest import skip_or_fail


def test_default_url_is_a_sqlite_file_under_acm_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ACM_HOME", str(tmp_path / "home"))
    assert default_database_url() == f"sqlite:///{tmp_path / 'home' / 'acm.db'}"
    monkeypatch.setenv("ACM_DATABASE_URL", "postgresql+psycopg://u:pw@h/db")
    assert default_database_url() == "postgresql+psycopg://u:pw@h/db"


def test_redact_masks_password():
    shown = redact("mssql+pyodbc://acm:s3cret@server/db?driver=ODBC+Driver+18+for+SQL+Server")
    assert "s3cret" not in shown and "acm:***@server" in shown


def test_sqlite_engine_uses_wal_and_immediate_transactions(sqlite_url):
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    # A second writer cannot start while the first holds its (immediate) transaction.
    other = create_engine(sqlite_url, connect_args={"timeout": 0.05})
    with engine.begin():
        try:
            with other.begin() as conn2:
                conn2.execute(sa.text("SELECT 1"))
            raised = False
        except sa.exc.OperationalError as exc:
            raised = "locked" in str(exc)
    assert raised


def test_pyodbc_is_only_imported_for_odbc_urls(sqlite_url):
    # pyodbc's wheel loads the system library libodbc (Debian's unixodbc) when imported.
    if ctypes.util.find_library("odbc") is None:
        skip_or_fail("pyodbc needs the system package unixodbc (libodbc), which is not installed")
    probe = (
        "import sys\n"
        "from acm_assets.database import create_engine\n"
        f"create_engine({sqlite_url!r})\n"
        "assert 'pyodbc' not in sys.modules\n"
        "engine = create_engine('mssql+pyodbc://acm:s3cret@server/db?driver=ODBC+Driver+18+for+SQL+Server')\n"
        "assert engine.dialect.driver == 'pyodbc' and 'pyodbc' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_a_connection_the_server_dropped_while_idle_is_replaced(postgres_url):
    """One killed idle connection must not fail the next read (the pool tests connections before use)."""
    engine = create_engine(postgres_url)
    store = HistorianStore(engine)
    store.create_tables()
    create_registry_table(engine)
    store.add_equipment("FD_FAN")
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalar()
    admin.dispose()
    assert killed >= 1
    assert store.get_equipment("FD_FAN").code == "FD_FAN"
    assert ModelStore(engine).versions() == []
    engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_unreachable_database_is_one_error_that_says_so(kind, tmp_path, postgres_server_url, capsys):
    """Whichever store meets the outage first (historian, equipment lookup, registry schema check), the error
    is DatabaseConnectionError saying the database is unreachable, never an unknown equipment or a bad schema."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    else:
        url = sa.engine.make_url(postgres_server_url).set(port=1, password="s3cret", query={"connect_timeout": "2"})
        url = url.render_as_string(hide_password=False)
    engine = create_engine(url)
    for attempt in (
        lambda: HistorianStore(engine).get_equipment("FD_FAN"),
        lambda: EquipmentResolver(engine).resolve("FD_FAN"),
        lambda: check_registry_table(engine),
        lambda: ModelStore(engine).versions(),
    ):
        with pytest.raises(DatabaseConnectionError, match=r"database .* is unreachable: OperationalError: ") as caught:
            attempt()
        assert "s3cret" not in str(caught.value)
    assert main(["equipment", "list", "--database-url", url]) == 2
    assert "is unreachable" in capsys.readouterr().err
