import pytest
import sqlalchemy as sa

from acm_assets.cli.main import main
from acm_assets.database import create_engine
from acm_assets.ingest.historian import HistorianStore, historian_table
from acm_assets.ingest.tags import TagLimit, tag_limits

EXPORT = """TS,FAN.DAMPER,FAN.CURRENT,FAN.BEARING_TEMP
Description,Damper position,Motor current,Bearing temperature
Units,%,A,degC
5/21/2012 14:00,33,35.4,62.55
5/21/2012 14:30,32.48,35.25,62.78
05-21-2012 15:00,33.1,35.3,
5/21/2012 15:30,34.0,35.9,62.9
5/21/2012 15:30,34.5,36.0,63.0
5/21/2012 17:30,30.0,34.0,61.0
"""


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _count(url) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(historian_table)).scalar_one()
    engine.dispose()
    return count


def test_equipment_add_and_list(capsys, database_url):
    status, out, _ = _run(capsys, "equipment", "list", "--database-url", database_url)
    assert status == 0 and "no equipment registered" in out
    status, out, _ = _run(
        capsys, "equipment", "add", "FD_FAN", "--name", "Fan 1", "--type", "FD_FAN", "--database-url", database_url
    )
    assert status == 0 and out.strip() == "registered FD_FAN as EquipID 1"
    status, out, _ = _run(capsys, "equipment", "list", "--database-url", database_url)
    assert status == 0
    row = out.splitlines()[1].split()
    assert row[:6] == ["1", "FD_FAN", "FD_FAN", "0", "0", "-"] and out.rstrip().endswith("Fan 1")


def test_import_csv_is_idempotent(capsys, database_url, tmp_path):
    export = tmp_path / "fan.csv"
    export.write_text(EXPORT, encoding="utf-8-sig")
    assert _run(capsys, "equipment", "add", "FD_FAN", "--database-url", database_url)[0] == 0

    status, out, err = _run(capsys, "import-csv", "--equip", "FD_FAN", str(export), "--database-url", database_url)
    assert status == 0, err
    assert f"{export}: 6 rows read, 5 kept (dropped: duplicate_timestamps 1); 3 tags" in out
    assert "2012-05-21 14:00 .. 2012-05-21 17:30 UTC, cadence 30 min, gaps 1" in out
    assert "FD_FAN: 14 points inserted, 0 unchanged, 0 updated" in out
    assert _count(database_url) == 14

    status, out, _ = _run(capsys, "import-csv", "--equip", "FD_FAN", str(export), "--database-url", database_url)
    assert status == 0 and "FD_FAN: 0 points inserted, 14 unchanged, 0 updated" in out
    assert _count(database_url) == 14

    engine = create_engine(database_url)
    store = HistorianStore(engine)
    assert store.get_equipment("FD_FAN").tags["FAN.CURRENT"] == {"description": "Motor current", "units": "A"}
    stored = store.read_window("FD_FAN", drop_constant=False, max_gap_cadences=1).frame
    engine.dispose()
    assert stored.loc["2012-05-21 15:30", "FAN.DAMPER"].item() == 34.5  # duplicate timestamp: the last row wins
    assert len(stored) == 5  # the two-hour gap is not filled in the historian


MOTOR_EXPORT = """Point Name,SIM.II100,SIM.TI101
Description,MOTOR CURRENT,NDE BRNG TEMP
Extended Name,,
Extended Description,,
Units,A,C
01/01/2017 01:00,467.4,61.0
01/01/2017 02:00,464.4,61.0
"""


def test_import_csv_stores_every_header_row_in_tags_json(capsys, database_url, tmp_path):
    export = tmp_path / "motor.csv"
    export.write_text(MOTOR_EXPORT)
    engine = create_engine(database_url)
    store = HistorianStore(engine)
    store.create_tables()
    # What an import that lost the units row stored: the units are filled in, stored metadata is kept.
    store.add_equipment("MOTOR", tags={"SIM.II100": {"description": "Stator current"}})
    status, out, err = _run(capsys, "import-csv", "--equip", "MOTOR", str(export), "--database-url", database_url)
    assert status == 0, err
    assert f"{export}: 2 rows read, 2 kept (dropped: none); 2 tags" in out
    empty = {"Extended Name": "", "Extended Description": ""}
    assert store.get_equipment("MOTOR").tags == {
        "SIM.II100": {"description": "Stator current", "units": "A", "attributes": empty},
        "SIM.TI101": {"description": "NDE BRNG TEMP", "units": "C", "attributes": empty},
    }
    engine.dispose()


@pytest.mark.shared_data
def test_import_csv_of_a_motor_export_keeps_its_units(capsys, sqlite_url, reference_dir):
    export = reference_dir / "MOTOR_TRAINING_DATA.csv"
    assert _run(capsys, "equipment", "add", "MOTOR", "--database-url", sqlite_url)[0] == 0
    status, out, err = _run(capsys, "import-csv", "--equip", "MOTOR", str(export), "--database-url", sqlite_url)
    assert status == 0, err
    assert f"{export}: 8759 rows read, 8759 kept (dropped: none); 7 tags" in out
    engine = create_engine(sqlite_url)
    tags = HistorianStore(engine).get_equipment("MOTOR").tags
    engine.dispose()
    assert {tag: meta["units"] for tag, meta in tags.items()} == {
        "DEMO.SIM.II100": "A",
        "DEMO.SIM.TI101": "C",
        "DEMO.SIM.TI102": "C",
        "DEMO.SIM.XI101X": "um",
        "DEMO.SIM.XI101Y": "um",
        "DEMO.SIM.XI102X": "um",
        "DEMO.SIM.XI102Y": "um",
    }
    assert tags["DEMO.SIM.TI102"]["description"] == "DE DRNG TEMP"


def test_import_csv_takes_declared_timestamp_formats_and_zone(capsys, sqlite_url, tmp_path):
    export = tmp_path / "day_first.csv"
    export.write_text("Time,A\n21/05/2012 14:00,1.5\n21/05/2012 14:30,2.5\n")
    assert _run(capsys, "equipment", "add", "P1", "--database-url", sqlite_url)[0] == 0
    status, _, err = _run(capsys, "import-csv", "--equip", "P1", str(export), "--database-url", sqlite_url)
    assert status == 2 and "day_first.csv" in err
    status, out, err = _run(
        capsys,
        "import-csv",
        "--equip",
        "P1",
        str(export),
        "--timestamp-format",
        "%d/%m/%Y %H:%M",
        "--timezone",
        "Europe/Berlin",
        "--database-url",
        sqlite_url,
    )
    assert status == 0, err
    assert "2012-05-21 12:00 .. 2012-05-21 12:30 UTC" in out and "2 points inserted" in out


def test_import_csv_keeps_the_limits_of_an_export_and_refuses_one_that_is_no_number(capsys, sqlite_url, tmp_path):
    lines = EXPORT.splitlines()
    good, bad = tmp_path / "limits.csv", tmp_path / "bad_limits.csv"
    good.write_text("\n".join([*lines[:3], "High Limit,100,60,95", "Low Limit,,,", *lines[3:]]) + "\n")
    bad.write_text("\n".join([*lines[:3], "High Limit,100,hot,95", *lines[3:]]) + "\n")
    assert _run(capsys, "equipment", "add", "FD_FAN", "--database-url", sqlite_url)[0] == 0
    status, out, err = _run(capsys, "import-csv", "--equip", "FD_FAN", str(bad), "--database-url", sqlite_url)
    assert status == 2 and f"{bad}: tag 'FAN.CURRENT', 'High Limit': limit 'hot' is not a number" in err
    assert _count(sqlite_url) == 0
    status, out, err = _run(capsys, "import-csv", "--equip", "FD_FAN", str(good), "--database-url", sqlite_url)
    assert status == 0, err
    engine = create_engine(sqlite_url)
    stored = HistorianStore(engine).get_equipment("FD_FAN").tags
    engine.dispose()
    assert tag_limits(stored, "FD_FAN")["FAN.BEARING_TEMP"] == TagLimit(high=95.0, low=None, source="FD_FAN")


def test_import_csv_errors_are_one_line_with_status_2(capsys, sqlite_url, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(EXPORT)
    bad = tmp_path / "bad.csv"
    bad.write_text("TS,A\nyesterday,1\nlater,2\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases = [
        (["--equip", "NOPE", str(good)], "unknown equipment 'NOPE'"),
        (["--equip", "FD_FAN", str(tmp_path / "missing.csv")], "missing.csv: file not found"),
        (["--equip", "FD_FAN", str(empty)], "empty.csv: the file is empty"),
        (["--equip", "FD_FAN", str(good), str(bad)], "bad.csv"),
    ]
    assert _run(capsys, "equipment", "add", "FD_FAN", "--database-url", sqlite_url)[0] == 0
    for args, message in cases:
        status, out, err = _run(capsys, "import-csv", *args, "--database-url", sqlite_url)
        assert status == 2, args
        assert err.startswith("acm import-csv: error: ") and message in err and err.count("\n") == 1
    assert _count(sqlite_url) == 0  # the good file before the bad one was not written either


def test_equipment_errors_are_one_line_with_status_2(capsys, sqlite_url):
    assert _run(capsys, "equipment", "add", "FD_FAN", "--database-url", sqlite_url)[0] == 0
    status, _, err = _run(capsys, "equipment", "add", "FD_FAN", "--database-url", sqlite_url)
    assert status == 2 and err == "acm equipment: error: equipment 'FD_FAN' already exists (EquipID 1)\n"
    status, _, err = _run(capsys, "equipment", "add", "9 lives", "--database-url", sqlite_url)
    assert status == 2 and "invalid equipment code '9 lives'" in err
    status, _, err = _run(capsys, "equipment", "list", "--database-url", "postgresql+psycopg://acm:s3cret@127.0.0.1:1/x")
    assert status == 2 and "acm:***@127.0.0.1:1/x is unreachable: OperationalError" in err and "s3cret" not in err
    status, _, err = _run(capsys, "equipment", "list", "--database-url", "nosuchdb://x")
    assert status == 2 and err.startswith("acm equipment: error: invalid database URL") and err.count("\n") == 1
