import dagster as dg

from acm_assets.ingest.historian import HistorianStore
from acm_assets.simulation.simulator import simulate
from acm_assets_tests.assets import reexecution_jobs
from acm_assets_tests.assets.conftest import CODE, TRAIN_WINDOW, make_plant

RUN_CONFIG = {"ops": {"baseline": {"config": TRAIN_WINDOW}}}


def test_reexecuting_a_failed_training_run_from_failure_completes_its_version(sqlite_url, instance, monkeypatch):
    """The operator's path: the baseline check fails for lack of history, the history is imported, and the
    run is re-executed from failure in the UI; the models land in that run group's version."""
    monkeypatch.setenv("ACM_DATABASE_URL", sqlite_url)
    plant = make_plant(sqlite_url, instance, days=2, faults=())
    job = dg.reconstructable(reexecution_jobs.training_job)
    with dg.execute_job(job, instance, run_config=RUN_CONFIG, tags={"dagster/partition": CODE}) as failed:
        assert not failed.success
        failed_run_id = failed.run_id

    full = simulate("FD_FAN", start="2024-01-01", days=36, seed=3, faults=None)
    HistorianStore(plant.engine).write_frame(CODE, full.frame)
    options = dg.ReexecutionOptions.from_failure(failed_run_id, instance)
    with dg.execute_job(job, instance, reexecution_options=options, tags={"dagster/partition": CODE}) as retried:
        assert retried.success
        retried_run = retried.dagster_run

    assert retried_run.root_run_id == failed_run_id
    registry = plant.registry()
    assert registry.latest_version(plant.equipment()) == 1
    assert len(registry.manifest(plant.equipment(), 1)["saved_models"]) == 8
