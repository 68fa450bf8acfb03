import datetime as dt

import pytest
import sqlalchemy as sa

from acm_assets.outputs.triage import (
    LATEST_COLUMNS,
    TriageError,
    episode_key,
    latest_triage,
    record_decision,
    resolve_episode,
    triage_history,
    triage_table,
)
from acm_assets_tests.outputs.episodes import CLASH, FAN_EPISODE, make_fleet


@pytest.fixture
def fleet(database_url):
    engine = make_fleet(database_url)
    yield engine
    engine.dispose()


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(triage_table)).scalar_one()


def test_an_episode_key_names_equipment_and_onset():
    assert episode_key("FD_FAN", 1714736400) == "FD_FAN:1714736400"


def test_a_key_and_an_unambiguous_bare_id_resolve_to_one_episode(fleet):
    assert resolve_episode(fleet, f"GAS_TURBINE:{CLASH}").code == "GAS_TURBINE"
    bare = resolve_episode(fleet, str(FAN_EPISODE))
    assert (bare.code, bare.episode_id, bare.key) == ("FD_FAN", FAN_EPISODE, f"FD_FAN:{FAN_EPISODE}")


def test_a_bare_id_two_machines_share_is_refused_listing_both(fleet):
    with pytest.raises(TriageError, match=f"COND_PUMP:{CLASH}, GAS_TURBINE:{CLASH}"):
        resolve_episode(fleet, str(CLASH))


@pytest.mark.parametrize("text", ["FD_FAN:1", "12345", f"COND_PUMP:{FAN_EPISODE}", "NOPE:1714736400", "FD_FAN:x"])
def test_an_unknown_or_malformed_id_is_refused_naming_it(fleet, text):
    with pytest.raises(TriageError, match=repr(text).replace("(", r"\(")):
        record_decision(fleet, text, "normal", "ana")
    assert _count(fleet) == 0


@pytest.mark.parametrize(("state", "who", "problem"), [("ok", "ana", "state 'ok'"), ("normal", "  ", "empty")])
def test_a_bad_state_or_an_empty_name_changes_nothing(fleet, state, who, problem):
    with pytest.raises(TriageError, match=problem):
        record_decision(fleet, f"FD_FAN:{FAN_EPISODE}", state, who)
    assert _count(fleet) == 0


def test_history_is_kept_and_the_latest_decision_is_the_state(fleet):
    t0 = dt.datetime(2024, 5, 4, 8, 0, tzinfo=dt.timezone.utc)
    record_decision(fleet, f"FD_FAN:{FAN_EPISODE}", "acknowledged", "ana", decided_at=t0)
    record_decision(fleet, f"FD_FAN:{FAN_EPISODE}", "fault", "bo", "bearing worn", decided_at=t0)  # same tick
    record_decision(fleet, f"GAS_TURBINE:{CLASH}", "normal", "ana", "new duty", decided_at=t0 + dt.timedelta(hours=1))
    history = triage_history(fleet)
    assert history["State"].tolist() == ["acknowledged", "fault", "normal"]
    latest = latest_triage(fleet)
    assert list(latest.columns) == LATEST_COLUMNS
    states = {(int(r.EquipID), int(r.EpisodeID)): (r.State, r.DecidedBy, r.Note) for r in latest.itertuples()}
    assert states == {(1, FAN_EPISODE): ("fault", "bo", "bearing worn"), (3, CLASH): ("normal", "ana", "new duty")}
    assert latest["DecidedAt"].max() == dt.datetime(2024, 5, 4, 9, 0)


def test_latest_triage_is_empty_before_any_table_exists(sqlite_url):
    from acm_assets.database import create_engine

    assert latest_triage(create_engine(sqlite_url)).columns.tolist() == LATEST_COLUMNS
