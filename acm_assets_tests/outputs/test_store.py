import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from acm_assets.database import create_engine
from acm_assets.outputs.store import OutputStore, OutputTable

metadata = sa.MetaData()
points = sa.Table(
    "points",
    metadata,
    sa.Column("EquipID", sa.Integer, primary_key=True),
    sa.Column("EntryDateTime", sa.DateTime, primary_key=True),
    sa.Column("Day", sa.Date, nullable=False),
    sa.Column("value", sa.Float),
)
spans = sa.Table(
    "spans",
    metadata,
    sa.Column("EquipID", sa.Integer, primary_key=True),
    sa.Column("SpanID", sa.String(40), primary_key=True),
    sa.Column("Day", sa.Date, nullable=False),
    sa.Column("length", sa.Float),
)


@pytest.fixture
def store(database_url):
    store = OutputStore(
        create_engine(database_url),
        {"points": OutputTable(points, ("EntryDateTime",)), "spans": OutputTable(spans, ("SpanID",))},
    )
    store.create_tables()
    return store


def _day_frame(day: str, value: float) -> pd.DataFrame:
    index = pd.date_range(day, periods=4, freq="6h", tz="UTC")
    return pd.DataFrame({"EntryDateTime": index, "value": value})


def test_rerunning_a_day_replaces_exactly_its_rows(store):
    d1, d2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    store.replace_partition("points", 7, d1, _day_frame("2024-01-01", 1.0))
    store.replace_partition("points", 7, d2, _day_frame("2024-01-02", 2.0))
    store.replace_partition("points", 8, d1, _day_frame("2024-01-01", 9.0))
    result = store.replace_partition("points", 7, d1, _day_frame("2024-01-01", 3.0).iloc[:3])
    assert (result.deleted, result.inserted) == (4, 3)
    rows = store.read("points", 7)
    assert len(rows) == 7
    assert sorted(rows.groupby("Day")["value"].first().tolist()) == [2.0, 3.0]
    assert len(store.read("points", 8)) == 4


def test_an_entity_extended_by_a_later_day_is_not_shrunk_by_an_earlier_rerun(store):
    d1, d2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    store.replace_partition("spans", 7, d1, pd.DataFrame({"SpanID": ["e1"], "length": [3.0]}))
    extended = store.replace_partition("spans", 7, d2, pd.DataFrame({"SpanID": ["e1", "e2"], "length": [9.0, 1.0]}))
    assert extended.superseded_earlier == 1
    rerun = store.replace_partition("spans", 7, d1, pd.DataFrame({"SpanID": ["e1"], "length": [3.0]}))
    assert rerun.kept_later == 1 and rerun.inserted == 0
    rows = store.read("spans", 7).set_index("SpanID")
    assert rows.loc["e1", "length"] == 9.0 and len(rows) == 2


def test_an_empty_day_clears_that_day(store):
    d1 = dt.date(2024, 1, 1)
    store.replace_partition("points", 7, d1, _day_frame("2024-01-01", 1.0))
    store.replace_partition("points", 7, d1, _day_frame("2024-01-01", 1.0).iloc[0:0])
    assert store.read("points", 7).empty


def test_a_frame_missing_a_column_names_it(store):
    with pytest.raises(ValueError, match="value"):
        store.replace_partition("points", 7, dt.date(2024, 1, 1), _day_frame("2024-01-01", 1.0).drop(columns="value"))


def test_several_partitions_are_replaced_all_or_nothing(store):
    d1, d2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    bad = _day_frame("2024-01-02", 2.0).drop(columns="value")
    with pytest.raises(ValueError, match="value"):
        store.replace_partitions("points", [(7, d1, _day_frame("2024-01-01", 1.0)), (7, d2, bad)])
    assert store.read("points", 7).empty
    result = store.replace_partitions("points", [(7, d2, _day_frame("2024-01-02", 2.0)), (7, d1, _day_frame("2024-01-01", 1.0))])
    assert result.inserted == 8
    assert len(store.read("points", 7)) == 8


def test_a_table_written_by_an_older_version_gains_the_new_nullable_columns(database_url):
    older, newer = sa.MetaData(), sa.MetaData()
    def columns():
        return [sa.Column("EquipID", sa.Integer, primary_key=True), sa.Column("SpanID", sa.String(40), primary_key=True),
                sa.Column("Day", sa.Date, nullable=False)]

    sa.Table("spans", older, *columns())
    current = sa.Table("spans", newer, *columns(), sa.Column("LimitTag", sa.Unicode(200)))
    engine = create_engine(database_url)
    older.create_all(engine)
    store = OutputStore(engine, {"spans": OutputTable(current, ("SpanID",))})
    with engine.begin() as conn:
        conn.execute(sa.insert(older.tables["spans"]), [{"EquipID": 7, "SpanID": "e0", "Day": dt.date(2024, 1, 1)}])
    store.create_tables()
    store.create_tables()  # a second start finds the column there
    store.replace_partition("spans", 7, dt.date(2024, 1, 2), pd.DataFrame({"SpanID": ["e1"], "LimitTag": ["T"]}))
    rows = store.read("spans", 7).sort_values("SpanID")
    assert rows["SpanID"].tolist() == ["e0", "e1"] and rows["LimitTag"].isna().tolist() == [True, False]

    required = sa.Table("spans", sa.MetaData(), *columns(), sa.Column("Must", sa.Integer, nullable=False))
    with pytest.raises(RuntimeError, match=r"table spans lacks the required columns \['Must'\]"):
        OutputStore(engine, {"spans": OutputTable(required, ("SpanID",))}).create_tables()


def test_days_written_together_leave_the_rows_days_written_one_by_one_leave(store):
    """An episode that three days list is held by the last of them, whether the days are written in one batch
    or one at a time, and a later day outside the batch still keeps what it extended."""
    days = [dt.date(2024, 1, d) for d in (1, 2, 3, 4)]
    listed = {days[0]: ["e1"], days[1]: ["e1", "e2"], days[2]: ["e2"], days[3]: ["e2", "e3"]}

    def frame(day):
        return pd.DataFrame({"SpanID": listed[day], "length": [float(day.day)] * len(listed[day])})

    for day in days:
        store.replace_partition("spans", 7, day, frame(day))
    one_by_one = store.read("spans", 7).sort_values("SpanID").reset_index(drop=True)
    store.replace_partition("spans", 7, days[3], frame(days[3]))
    batch = store.replace_partitions("spans", [(7, day, frame(day)) for day in days[:3]])
    assert (batch.deleted, batch.inserted, batch.kept_later) == (1, 1, 1)  # e1 again; e2 stays with the 4th
    pd.testing.assert_frame_equal(store.read("spans", 7).sort_values("SpanID").reset_index(drop=True), one_by_one)
    assert one_by_one.set_index("SpanID")["Day"].astype(str).to_dict() == {
        "e1": "2024-01-02", "e2": "2024-01-04", "e3": "2024-01-04"
    }
