import os
import re
from collections import Counter
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from acm_assets.cli.demo import _triage_and_notify, human_duration, write_env_file
from acm_assets.cli.main import main
from acm_assets.database import acm_home, create_engine, default_database_url
from acm_assets.simulation.demo_data import load_demo_history
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.historian import HistorianStore
from acm_assets.simulation.simulator import EQUIPMENT_TYPES, FAULT_TYPES
from acm_assets.registry.equipment import Equipment
from acm_assets.outputs.triage import latest_triage
from acm_assets.registry.store import ModelStore
from acm_assets_tests.notifications.receivers import WebhookReceiver
from acm_assets_tests.outputs.episodes import make_fleet


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


def test_acm_demo_trains_and_scores_through_dagster_runs(capsys, monkeypatch, tmp_path):
    _unset(monkeypatch, "DAGSTER_HOME", "ACM_FIRST_DAY", "ACM_LAST_DAY")  # restored after: the demo sets them
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text("MY_OWN_SETTING=kept\nACM_FIRST_DAY=1999-01-01\n")
    monkeypatch.chdir(project)
    webhook = WebhookReceiver().start()
    monkeypatch.setenv("ACM_NOTIFY_WEBHOOK_URL", webhook.url)
    try:
        assert main(["demo"]) == 0
    finally:
        webhook.stop()
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    env = (project / ".env").read_text().splitlines()
    assert env == ["MY_OWN_SETTING=kept", f'DAGSTER_HOME="{acm_home() / "dagster"}"', 'ACM_FIRST_DAY="2024-01-01"',
                   'ACM_LAST_DAY="2024-06-30"', f'ACM_HOME="{acm_home()}"']
    assert out.splitlines()[0] == f"database: {default_database_url()}"
    assert "FD_FAN (EquipID 1): 26208 rows x 10 tags, 2024-01-01 00:00 .. 2024-06-30 23:50 UTC" in out
    assert "points 262080 inserted, 0 unchanged, 0 updated" in out
    # Quiet: one line per step, a progress bar per run, the summary last; Dagster's log is in the file.
    assert (out + err).count("\n") < 120
    assert "training 3 equipment: 100%" in err and "27/27" in err
    assert "scoring 3 equipment: 100%" in err and "90/90" in err
    assert "ASSET_MATERIALIZATION" not in out + err and "DEBUG" not in out + err
    summary = out[out.index("\nSummary\n"):]
    assert summary.count("caught by episode") == 3 and "bearing_degradation" in summary
    assert "0 days" not in out and " min " in summary  # delays in human units
    log = acm_home() / "demo.log"
    assert f"the runs' full log: {log}" in out and "ASSET_MATERIALIZATION" in log.read_text()
    # As wide as for a project in /home/user/acm_assets (paths are the user's).
    assert max(len(line) for line in out.replace(str(tmp_path), "/home/user").splitlines()) <= 120
    assert "day partitions" not in out and "month partitions (2024-01 .. 2024-06)" in out
    assert "  dagster dev    (or dg dev), in this directory" in out
    page = Path(re.search(r"^Fleet health page \(open it in a browser\): (.+)$", out, re.M).group(1))
    assert page.parent == acm_home() / "fleet" and re.fullmatch(r"fleet-health-2024-\d\d-\d\d\.html", page.name)
    # The demo ends with triaged episodes, and tells every episode to the webhook before it ends.
    triaged = latest_triage(create_engine(default_database_url()))
    assert len(triaged) == 3 and set(triaged["State"]) == {"fault"}
    for code in EQUIPMENT_TYPES:
        assert f"triaged {code}:" in out
        assert any(text.startswith(f"ACM {code}: ") for text in webhook.texts)
    assert "notifications to webhook: " in out and "failed" not in out.split("notifications to webhook: ")[1]
    assert all(f'data-equipment="{code}"' in page.read_text() for code in EQUIPMENT_TYPES)

    engine = create_engine(default_database_url())
    summary_rows = HistorianStore(engine).data_summary()
    assert {code: points for code, (points, _, _) in summary_rows.items()} == {
        "FD_FAN": 26208 * 10,
        "COND_PUMP": 26208 * 11,
        "GAS_TURBINE": 26208 * 12,
    }
    registry = ModelStore(engine)
    for code, equip_id in (("FD_FAN", 1), ("COND_PUMP", 2), ("GAS_TURBINE", 3)):
        assert registry.latest_version(Equipment(equip_id, code)) == 1
    with engine.connect() as conn:
        days = conn.exec_driver_sql("SELECT COUNT(DISTINCT Day) FROM ACM_HealthTimeline").scalar()
        # Each run's months of each equipment: one score_sanity evaluation each.
        months = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM (SELECT DISTINCT EquipID, substr(Day, 1, 7) FROM ACM_HealthTimeline)"
        ).scalar()
    engine.dispose()
    assert days == 30

    dagster_home = acm_home() / "dagster"
    instance_config = yaml.safe_load((dagster_home / "dagster.yaml").read_text())
    assert instance_config["telemetry"] == {"enabled": False} and instance_config["run_monitoring"]["enabled"]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        evaluations = [
            event.dagster_event.asset_check_evaluation_data
            for run in runs
            for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
    assert sorted(run.job_name for run in runs) == ["fleet_page"] + ["scoring"] * 3 + ["training"] * 3
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    # Launched from the code location as the UI launches, so the UI can re-execute them (test_webserver does).
    assert {run.remote_job_origin.location_name for run in runs} == {"acm_assets"}
    assert {run.tags["acm/equipment"] for run in runs if run.job_name != "fleet_page"} == set(EQUIPMENT_TYPES)
    assert {run.tags["acm/days"] for run in runs if run.job_name == "scoring"} == {"2024-05-01 .. 2024-05-30"}
    checks = Counter(e.check_name for e in evaluations)
    assert checks == {"baseline_quality": 3, "model_quality": 18, "score_sanity": months}
    failed = [(e.check_name, e.partition, e.description) for e in evaluations if not e.passed]
    assert failed == [], f"{len(failed)} checks did not pass on the demo's data: {failed[:5]}"


@pytest.mark.parametrize(
    "delta, shown",
    [("0s", "0 min"), ("40min", "40 min"), ("4h", "4 h"), ("1D18h40min", "1 d 18 h 40 min"), ("2D", "2 d")],
)
def test_delays_read_in_human_units(delta, shown):
    assert human_duration(pd.Timedelta(delta)) == shown


def _unset(monkeypatch, *names: str) -> None:
    for name in names:
        monkeypatch.setenv(name, "")  # recorded, so the test's end restores what was there
        monkeypatch.delenv(name)


def test_the_demo_env_file_opens_its_instance_with_no_variables_typed(capsys, monkeypatch, tmp_path):
    """What `dagster dev` and `dg dev` do first in the directory: read .env, then open $DAGSTER_HOME."""
    from dagster._cli.utils import get_possibly_temporary_instance_for_cli

    _unset(monkeypatch, "DAGSTER_HOME", "ACM_FIRST_DAY", "ACM_LAST_DAY")
    monkeypatch.chdir(tmp_path)
    settings = {"DAGSTER_HOME": str(tmp_path / "home"), "ACM_FIRST_DAY": "2024-01-01", "ACM_LAST_DAY": "2024-06-30"}
    (tmp_path / ".env").write_text("MY_OWN_SETTING=kept\nACM_FIRST_DAY=1999-01-01\n")
    write_env_file(tmp_path / ".env", settings)
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("equipment", ["FD_FAN"])

    with get_possibly_temporary_instance_for_cli("dagster dev") as instance:
        assert instance.root_directory == str(tmp_path / "home")
        assert instance.get_dynamic_partitions("equipment") == ["FD_FAN"]
        assert {name: os.environ[name] for name in settings} == settings
        assert os.environ["MY_OWN_SETTING"] == "kept"


def test_without_a_notification_target_the_demo_says_how_to_set_one(sqlite_url, capsys, monkeypatch):
    for name in ("ACM_NOTIFY_WEBHOOK_URL", "ACM_SMTP_URL", "ACM_NOTIFY_EMAIL_TO"):
        monkeypatch.delenv(name, raising=False)
    make_fleet(sqlite_url).dispose()
    _triage_and_notify(sqlite_url, [])
    out = capsys.readouterr().out
    assert "notifications are off; to turn them on, set ACM_NOTIFY_WEBHOOK_URL" in out
    assert "notification_sensor then tells each new episode" in out
    assert max(len(line) for line in out.splitlines()) <= 120
