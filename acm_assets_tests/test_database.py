import ctypes.util
import subprocess
import sys

import sqlalchemy as sa

from acm_assets.database import create_engine, default_database_url, redact
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
