"""Shared fixtures: real SQLite files, a fresh database on the real PostgreSQL server, the reference exports.

Tests that need PostgreSQL or ../shared skip on a bare laptop with a reason; with ACM_REQUIRE_SERVICES=1
(set by .ci/run) the same conditions fail instead, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

REQUIRE_SERVICES = os.environ.get("ACM_REQUIRE_SERVICES") == "1"
POSTGRES_URL_ENV = "ACM_TEST_POSTGRES_URL"
REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "acm_reference"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ACM_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_acm_home(tmp_path, monkeypatch):
    """No test reads or writes the operator's own data directory or database."""
    monkeypatch.setenv("ACM_HOME", str(tmp_path / "acm_home"))
    monkeypatch.delenv("ACM_DATABASE_URL", raising=False)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'acm.db'}"


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        skip_or_fail(f"{POSTGRES_URL_ENV} is not set")
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        skip_or_fail(f"PostgreSQL at {POSTGRES_URL_ENV} is unreachable: {type(exc).__name__}")
    return url


@pytest.fixture
def postgres_url(postgres_server_url) -> str:
    """A fresh, empty database on the real server, dropped after the test."""
    name = f"acm_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request) -> str:
    """Runs a test once on a real SQLite file and once on the real PostgreSQL server."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE_DIR.is_dir():
        skip_or_fail(f"reference exports not found at {REFERENCE_DIR}")
    return REFERENCE_DIR
