import json
import threading

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateTable

from acm_assets.database import create_engine
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.historian import HistorianStore, WriteResult, equipment_table, historian_table, update_point
from acm_assets.simulation.simulator import equipment_tags, simulate


@pytest.fixture(scope="module")
def fan():
    return simulate("FD_FAN", days=14, seed=4, faults=None)


@pytest.fixture
def store(database_url):
    engine = create_engine(database_url)
    store = HistorianStore(engine)
    store.create_tables()
    yield store
    engine.dispose()


def _window(frame, start, end):
    return frame[(frame.index >= pd.Timestamp(start, tz="UTC")) & (frame.index < pd.Timestamp(end, tz="UTC"))]


def test_equipment_registry(store):
    first = store.add_equipment("FD_FAN", name="Forced-draft fan 1", equip_type="FD_FAN", tags=equipment_tags("FD_FAN"))
    second = store.add_equipment("GT-2")
    assert (first.equip_id, second.equip_id) == (1, 2)
    assert first.tags == equipment_tags("FD_FAN") and list(first.tags) == list(equipment_tags("FD_FAN"))
    assert first.created_at.tzinfo is not None
    assert [e.code for e in store.list_equipment()] == ["FD_FAN", "GT-2"]
    assert store.get_equipment("GT-2") == second
    with pytest.raises(IngestError, match="equipment 'FD_FAN' already exists \\(EquipID 1\\)"):
        store.add_equipment("FD_FAN")
    with pytest.raises(IngestError, match="unknown equipment 'BOILER'"):
        store.get_equipment("BOILER")
    for bad in ("", "1FAN", "FAN;DROP TABLE", "X" * 65):
        with pytest.raises(IngestError, match="invalid equipment code"):
            store.add_equipment(bad)


def test_operator_can_add_equipment_with_plain_sql(store):
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                'INSERT INTO "Equipment" ("EquipID", "EquipCode", "EquipName", "CreatedAt") '
                "VALUES (40, 'MOTOR_7', 'Motor 7', :now)"
            ),
            {"now": pd.Timestamp("2024-01-01").to_pydatetime()},
        )
    assert store.get_equipment("MOTOR_7").equip_id == 40
    assert store.add_equipment("MOTOR_8").equip_id == 41


def test_write_is_idempotent_and_reads_back_exactly(store, fan):
    store.add_equipment("FD_FAN")
    first = store.write_frame("FD_FAN", fan.frame)
    assert first == WriteResult(inserted=fan.frame.size, unchanged=0, updated=0)
    again = store.write_frame("FD_FAN", fan.frame)
    assert again == WriteResult(inserted=0, unchanged=fan.frame.size, updated=0)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(historian_table)).scalar_one() == fan.frame.size

    cleaned = store.read_window("FD_FAN", "2024-01-03", "2024-01-10")
    expected = _window(fan.frame, "2024-01-03", "2024-01-10")
    pd.testing.assert_frame_equal(cleaned.frame, expected, check_exact=True, check_freq=False)
    assert cleaned.report.rows_out == len(expected) and cleaned.report.cadence == pd.Timedelta("10min")
    assert (cleaned.segment == 0).all()
    assert list(store.get_equipment("FD_FAN").tags) == list(fan.frame.columns)


def test_overlapping_write_counts_updates_and_never_erases(store, fan):
    store.add_equipment("FD_FAN")
    store.write_frame("FD_FAN", fan.frame.iloc[:1000])
    tag = fan.frame.columns[2]
    later = fan.frame.iloc[900:1200].copy()
    later.iloc[0, 2] += 1.5  # one corrected value inside the overlap
    later.iloc[1, 3] = np.nan  # a missing value does not delete the stored one
    result = store.write_frame("FD_FAN", later)
    assert result == WriteResult(inserted=200 * 10, unchanged=100 * 10 - 2, updated=1)
    back = store.read_window("FD_FAN").frame
    assert len(back) == 1200
    assert back[tag].iloc[900] == fan.frame[tag].iloc[900] + 1.5
    assert back.iloc[901, 3] == fan.frame.iloc[901, 3]


def test_read_window_selects_tags_and_keeps_gaps_as_segments(store, fan):
    store.add_equipment("FD_FAN")
    frame = fan.frame.drop(fan.frame.index[300:320])  # a 200-minute outage of the historian
    store.write_frame("FD_FAN", frame)
    tags = list(frame.columns[:2])
    cleaned = store.read_window("FD_FAN", tags=tags)
    assert list(cleaned.frame.columns) == tags
    assert cleaned.report.segments == 2 and cleaned.segment.iloc[-1] == 1
    with pytest.raises(IngestError, match=r"HistorianData\[FD_FAN\]: no historian data in window"):
        store.read_window("FD_FAN", "2030-01-01", "2030-02-01")
    with pytest.raises(IngestError, match="unknown equipment 'NOPE'"):
        store.read_window("NOPE", "2024-01-01", "2024-01-02")


def test_write_rejects_bad_frames_with_the_equipment_named(store, fan):
    store.add_equipment("FD_FAN")
    with pytest.raises(IngestError, match="unknown equipment 'FAN_X'"):
        store.write_frame("FAN_X", fan.frame)
    naive = fan.frame.tz_localize(None)
    with pytest.raises(IngestError, match=r"HistorianData\[FD_FAN\]: .*naive"):
        store.write_frame("FD_FAN", naive)
    doubled = pd.concat([fan.frame.iloc[:3], fan.frame.iloc[:1]])
    with pytest.raises(IngestError, match="timestamps must be unique"):
        store.write_frame("FD_FAN", doubled)
    text = fan.frame.iloc[:3].astype(str)
    with pytest.raises(IngestError, match="tags are not numeric"):
        store.write_frame("FD_FAN", text)
    with pytest.raises(IngestError, match="infinite values"):
        store.write_frame("FD_FAN", fan.frame.iloc[:3].replace(fan.frame.iloc[0, 0], np.inf))
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(historian_table)).scalar_one() == 0


def test_concurrent_imports_of_the_same_window_both_succeed(store, fan):
    store.add_equipment("FD_FAN")
    results, errors = [], []

    def load():
        try:
            results.append(store.write_frame("FD_FAN", fan.frame.iloc[:500]))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.inserted for r in results) == [0, 500 * 10]


def test_reads_seed_style_wide_tables(store, fan):
    columns = [sa.Column("EntryDateTime", sa.DateTime, primary_key=True), sa.Column("EquipID", sa.Integer)]
    columns += [sa.Column(tag, sa.Float) for tag in fan.frame.columns]
    columns.append(sa.Column("Comment", sa.String(20)))
    table = sa.Table("FD_FAN_Data", sa.MetaData(), *columns)
    table.create(store.engine)
    rows = fan.frame.iloc[:600].tz_localize(None).reset_index()
    rows["EquipID"], rows["Comment"] = 1, "ok"
    with store.engine.begin() as conn:
        conn.execute(table.insert(), rows.to_dict("records"))
    cleaned = store.read_wide_table("FD_FAN", "2024-01-02", "2024-01-03")
    pd.testing.assert_frame_equal(cleaned.frame, _window(fan.frame, "2024-01-02", "2024-01-03"), check_freq=False)
    assert cleaned.report.dropped_tags == {"EquipID": "equipment key column", "Comment": "non-numeric column type VARCHAR(20)"}
    with pytest.raises(IngestError, match=r"table GT_Data \(GT\): no such table"):
        store.read_wide_table("GT")
    with pytest.raises(IngestError, match="no timestamp column 'Ts'"):
        store.read_wide_table("FD_FAN", timestamp_column="Ts")
    with pytest.raises(IngestError, match="no rows in window"):
        store.read_wide_table("FD_FAN", "2031-01-01", None)


def test_ddl_and_statements_render_for_sql_server():
    dialect = mssql.dialect()
    ddl = "\n".join(str(CreateTable(t).compile(dialect=dialect)) for t in (equipment_table, historian_table))
    assert "[EntryDateTime] DATETIME2 NOT NULL" in ddl and "[CreatedAt] DATETIME2 NOT NULL" in ddl
    assert "[TagsJSON] NVARCHAR(max)" in ddl and "[Value] FLOAT(53) NOT NULL" in ddl
    assert "PRIMARY KEY ([EquipID], [EntryDateTime], [Tag])" in ddl
    for legacy in ("IMAGE", "NTEXT", " TEXT", "DATETIME "):
        assert legacy not in ddl
    update = str(update_point.compile(dialect=dialect))
    assert update.startswith("UPDATE [HistorianData] SET [Value]=") and "[Tag] = :k_Tag" in update
    lock = sa.select(equipment_table).with_for_update().with_hint(equipment_table, "WITH (UPDLOCK, HOLDLOCK)", "mssql")
    assert "FROM [Equipment] WITH (UPDLOCK, HOLDLOCK)" in str(lock.compile(dialect=dialect))


def test_tags_json_is_plain_json(store):
    store.add_equipment("CP", tags={"A": {"units": "kW"}})
    with store.engine.connect() as conn:
        raw = conn.execute(sa.select(equipment_table.c.TagsJSON)).scalar_one()
    assert json.loads(raw) == {"A": {"units": "kW"}}


def test_write_fills_the_metadata_a_stored_tag_lacks_and_never_overwrites_it(store):
    store.add_equipment("MOTOR", tags={"I": {"description": "Stator current"}})
    frame = pd.DataFrame({"I": [467.4], "T": [61.0]}, index=pd.DatetimeIndex(["2017-01-01 01:00"], tz="UTC"))
    store.write_frame("MOTOR", frame, tags={"I": {"description": "MOTOR CURRENT", "units": "A"}, "T": {"units": "C"}})
    expected = {"I": {"description": "Stator current", "units": "A"}, "T": {"units": "C"}}
    assert store.get_equipment("MOTOR").tags == expected
    store.write_frame("MOTOR", frame, tags={"I": {"units": "kA"}})
    assert store.get_equipment("MOTOR").tags == expected


def test_the_data_summary_of_many_equipment_is_asked_in_chunks_and_merged(sqlite_url):
    store = HistorianStore(create_engine(sqlite_url))
    store.create_tables()
    codes = [f"EQ{i:04d}" for i in range(1200)]
    for code in codes:
        store.add_equipment(code)
    wanted = codes[5:1105]  # more than one chunk of 1,000 (SQL Server takes 2,100 parameters a statement)
    assert sorted(store.data_summary(wanted)) == wanted
    assert store.data_summary(wanted)["EQ0005"] == (0, None, None)
