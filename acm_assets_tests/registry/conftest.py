"""Registry fixtures: a database (SQLite file or real PostgreSQL) holding ModelRegistry and Equipment rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from acm_assets.database import create_engine
from acm_assets.registry.equipment import Equipment, EquipmentResolver
from acm_assets.registry.schema import create_registry_table
from acm_assets.registry.store import ModelStore

EQUIPMENT = {"FD_FAN": 7, "GAS_TURBINE": 12, "PUMP_A": 30}


def create_equipment(engine: sa.Engine, codes: dict[str, int] = EQUIPMENT) -> None:
    """The Equipment table as the historian owns it (only the columns the registry reads)."""
    table = sa.Table(
        "Equipment",
        sa.MetaData(),
        sa.Column("EquipID", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("EquipCode", sa.String(64), unique=True, nullable=False),
    )
    with engine.begin() as conn:
        table.create(conn, checkfirst=True)
        conn.execute(sa.insert(table), [{"EquipID": i, "EquipCode": c} for c, i in codes.items()])


@pytest.fixture
def registry_url(database_url) -> str:
    """A database with the ModelRegistry table and the Equipment rows of EQUIPMENT."""
    engine = create_engine(database_url)
    create_registry_table(engine)
    create_equipment(engine)
    engine.dispose()
    return database_url


@pytest.fixture
def engine(registry_url):
    engine = create_engine(registry_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine) -> ModelStore:
    return ModelStore(engine)


@pytest.fixture
def fd_fan(engine) -> Equipment:
    return EquipmentResolver(engine).resolve("FD_FAN")
