import dagster as dg
import pandas as pd
import pytest

from acm_assets.cli.main import main
from acm_assets.database import acm_home, create_engine, default_database_url
from acm_assets.simulation.demo_data import load_demo_history
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.historian import HistorianStore
from acm_assets.simulation.simulator import EQUIPMENT_TYPES, FAULT_TYPES
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.store import ModelStore


@pytest.fixture
def store(database_url):
    engine = create_engine(database_url)
    yield HistorianStore(engine)
    engine.dispose()


def test_demo_history_is_idempotent(store):
    first = load_demo_history(store, days=21)
    assert [load.equipment.code for load in first] == list(EQUIPMENT_TYPES)
    for load in first:
        assert load.result.inserted == load.simulation.frame.size and load.result.updated == 0
        assert sorted(load.simulation.faults["type"]) == sorted(FAULT_TYPES)
        assert (load.simulation.faults["start"] >= load.simulation.frame.index[0] + pd.Timedelta(days=14)).all()
    second = load_demo_history(store, days=21)
    assert all(load.result.inserted == 0 and load.result.updated == 0 for load in second)
    assert [e.code for e in store.list_equipment()] == list(EQUIPMENT_TYPES)
    back = store.read_window("GAS_TURBINE", drop_constant=False).frame
    assert back.equals(first[2].simulation.frame.set_axis(back.index))


def test_demo_refuses_to_write_into_real_equipment(store):
    store.create_tables()
    store.add_equipment("COND_PUMP", tags={"PUMP.REAL_TAG": {}})
    with pytest.raises(IngestError, match="equipment 'COND_PUMP' \\(EquipID 1\\) exists with tags other than"):
        load_demo_history(store, days=21)


def test_acm_demo_trains_and_scores_through_dagster_runs(capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"database: {default_database_url()}"
    assert "FD_FAN (EquipID 1): 26208 rows x 10 tags, 2024-01-01 00:00 .. 2024-06-30 23:50 UTC" in out
    assert "points 262080 inserted, 0 unchanged, 0 updated" in out
    assert out.count("detected by episode") == 3 and "bearing_degradation" in out
    assert "dagster dev" in out
    engine = create_engine(default_database_url())
    summary = HistorianStore(engine).data_summary()
    assert {code: points for code, (points, _, _) in summary.items()} == {
        "FD_FAN": 26208 * 10,
        "COND_PUMP": 26208 * 11,
        "GAS_TURBINE": 26208 * 12,
    }
    registry = ModelStore(engine)
    for code, equip_id in (("FD_FAN", 1), ("COND_PUMP", 2), ("GAS_TURBINE", 3)):
        assert registry.latest_version(Equipment(equip_id, code)) == 1
    with engine.connect() as conn:
        days = conn.exec_driver_sql("SELECT COUNT(DISTINCT Day) FROM ACM_HealthTimeline").scalar()
    engine.dispose()
    assert days == 30
    with dg.DagsterInstance.from_config(str(acm_home() / "dagster")) as instance:
        runs = instance.get_runs()
    assert sorted(run.job_name for run in runs) == ["scoring"] * 3 + ["training"] * 3
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
