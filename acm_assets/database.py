"""One place that turns a database URL into a SQLAlchemy engine with safe per-dialect settings.

Historian tables, the ModelRegistry and the output tables all go through here, so SQLite gets WAL and
`BEGIN IMMEDIATE` for writers (concurrent writers wait instead of failing; connections marked `READ_ONLY`
read a snapshot without the write lock), ODBC is only touched for ODBC URLs, and no password ever reaches
a log line or an error message.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

ACM_HOME_ENV = "ACM_HOME"
DATABASE_URL_ENV = "ACM_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_S = 30.0
# Execution option of a connection that only reads: on SQLite it begins a deferred transaction (a WAL
# snapshot) instead of taking the write lock, so readers never queue behind writers.
READ_ONLY = "acm_read_only"


def acm_home() -> Path:
    """The project data directory: `$ACM_HOME`, else `.acm/` in the working directory."""
    return Path(os.environ.get(ACM_HOME_ENV) or ".acm").resolve()


def default_database_url() -> str:
    """`$ACM_DATABASE_URL`, else the embedded SQLite file under the project data directory."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    return f"sqlite:///{acm_home() / 'acm.db'}"


def redact(url: str | URL) -> str:
    """The URL as it may be shown to a person: password masked."""
    return make_url(url).render_as_string(hide_password=True)


class DatabaseConnectionError(RuntimeError):
    """The database named by a URL is unreachable (refused, down, connection dropped) or its driver cannot be
    loaded: one error for every outage, whichever store or command met it."""


def create_engine(url: str | URL, **kwargs) -> sa.Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and `BEGIN IMMEDIATE` transactions. Server
    connections are tested before use (`pool_pre_ping`), so a connection the server dropped while idle is
    replaced instead of failing the next step."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(parsed, **kwargs)
    else:
        try:
            engine = sa.create_engine(parsed, **{"pool_pre_ping": True, **kwargs})
        except ImportError as exc:
            hint = " (pyodbc needs the system package unixodbc: apt-get install unixodbc)" if "odbc" in str(exc) else ""
            raise DatabaseConnectionError(f"cannot load the driver for {redact(parsed)}: {exc}{hint}") from exc
    sa.event.listen(engine, "handle_error", _outage)
    return engine


def _outage(context: sa.engine.ExceptionContext) -> DatabaseConnectionError | None:
    """A failed connect or a dropped connection becomes DatabaseConnectionError, whatever the store."""
    error = context.sqlalchemy_exception
    if context.is_pre_ping:  # the pool replaces the connection itself
        return None
    if not (context.is_disconnect or (context.connection is None and isinstance(error, sa.exc.OperationalError))):
        return None
    url = context.engine.url
    orig = getattr(error, "orig", None) or context.original_exception
    return DatabaseConnectionError(f"database {redact(url)} is unreachable: {driver_reason(orig, url)}")


def driver_reason(orig: BaseException, url: str | URL) -> str:
    """'Type: first line' of a driver error, with the URL's password masked (drivers may echo it)."""
    text = str(orig).strip()
    reason = text.splitlines()[0] if text else type(orig).__name__
    password = make_url(url).password
    if password:
        reason = reason.replace(str(password), "***")
    return f"{type(orig).__name__}: {reason}"


def _sqlite_engine(url: URL, **kwargs) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, **kwargs.pop("connect_args", {})}
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine
