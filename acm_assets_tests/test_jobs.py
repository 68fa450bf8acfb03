"""The `triage` job: the Launchpad's way to record a decision, through a real Dagster instance."""

import dagster as dg
import pytest

from acm_assets.database import create_engine
from acm_assets.definitions import build_definitions
from acm_assets.outputs.triage import latest_triage, triage_history
from acm_assets_tests.outputs.episodes import CLASH, make_fleet


def _run(url, **decision):
    job = build_definitions(url).resolve_job_def("triage")
    with dg.instance_for_test() as instance:
        return job.execute_in_process(
            run_config={"ops": {"record_triage": {"config": decision}}}, instance=instance, raise_on_error=False
        )


def test_the_triage_job_records_a_decision(database_url):
    make_fleet(database_url).dispose()
    result = _run(database_url, episode=f"COND_PUMP:{CLASH}", state="fault", decided_by="ana", note="seal leak")
    assert result.success
    latest = latest_triage(create_engine(database_url))
    assert latest[["State", "DecidedBy", "Note"]].values.tolist() == [["fault", "ana", "seal leak"]]


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        ({"episode": str(CLASH), "state": "fault", "decided_by": "ana"}, f"COND_PUMP:{CLASH}, GAS_TURBINE:{CLASH}"),
        ({"episode": f"COND_PUMP:{CLASH}", "state": "broken", "decided_by": "ana"}, "state 'broken' is not one of"),
        ({"episode": f"COND_PUMP:{CLASH}", "state": "fault", "decided_by": ""}, "name of who decides is empty"),
    ],
)
def test_a_refused_decision_fails_the_run_naming_it_and_writes_nothing(sqlite_url, decision, message):
    make_fleet(sqlite_url).dispose()
    result = _run(sqlite_url, **decision)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert message in str(failure.event_specific_data.error)
    assert triage_history(create_engine(sqlite_url)).empty
