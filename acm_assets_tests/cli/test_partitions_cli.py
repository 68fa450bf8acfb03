"""`acm partitions migrate` through the real `acm` entry point: days scored before equipment x month
partitions show as materialized months on a real Dagster instance, once."""

import datetime as dt

import dagster as dg
import pytest

from acm_assets.cli.main import main
from acm_assets.outputs.schema import OUTPUT_TABLES
from acm_assets.outputs.store import OutputStore
from acm_assets_tests.assets.conftest import make_plant


@pytest.fixture
def scored_before(sqlite_url):
    """Days scored on another instance (as under the old partitions), their rows in the ACM database."""
    with dg.instance_for_test() as instance:
        plant = make_plant(sqlite_url, instance)
        assert plant.train().success
        assert plant.score("2024-01-30", "2024-02-02").success
    # A day before $ACM_FIRST_DAY (2024-01-01 by default), as a historian covering more would have.
    row = plant.table("ACM_HealthTimeline").drop(columns=["EquipID", "Day"]).iloc[:1]
    OutputStore(plant.engine, OUTPUT_TABLES).replace_tables({"ACM_HealthTimeline": [(1, dt.date(2023, 12, 31), row)]})
    return plant


def test_migrate_reports_each_scored_month_once_and_names_days_outside_the_calendar(scored_before, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "new_instance"))
    (tmp_path / "new_instance").mkdir()
    assert main(["partitions", "migrate", "--database-url", scored_before.url]) == 0
    out = capsys.readouterr().out
    assert "FD_FAN: 2 months reported as materialized (2024-01 .. 2024-02), 0 already materialized" in out
    assert ("FD_FAN: 1 scored days lie outside $ACM_FIRST_DAY .. $ACM_LAST_DAY (2023-12-31): widen them to show "
            "these days, then run this again") in out

    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("equipment") == ["FD_FAN"]
        for asset in ("anomaly_scores", "anomaly_episodes", "health_timeline"):
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {"FD_FAN|2024-01", "FD_FAN|2024-02"}
        latest = instance.fetch_materializations(dg.AssetKey("health_timeline"), limit=2).records
        metadata = {r.partition_key: r.asset_materialization.metadata for r in latest}
    february = metadata["FD_FAN|2024-02"]
    assert (february["days"].value, february["month_days_scored"].value) == ("2024-02-01 .. 2024-02-02 (2 days)", 2)
    assert february["month_days_unscored"].value == "2024-02-03 .. 2024-02-29"
    assert metadata["FD_FAN|2024-01"]["dagster/row_count"].value == 2  # one health row per day

    assert main(["partitions", "migrate", "--database-url", scored_before.url]) == 0
    assert "FD_FAN: 0 months reported as materialized, 2 already materialized" in capsys.readouterr().out


def test_migrate_needs_the_instance_named(sqlite_url, monkeypatch, capsys):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["partitions", "migrate", "--database-url", sqlite_url]) == 2
    assert "DAGSTER_HOME is not set" in capsys.readouterr().err
