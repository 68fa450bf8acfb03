import dagster as dg

from acm_assets.detectors import ModelType
from acm_assets.ingest.historian import HistorianStore
from acm_assets.simulation.simulator import simulate
from acm_assets_tests.assets import reexecution_jobs
from acm_assets_tests.assets.conftest import CODE, TRAIN_WINDOW, make_plant
from acm_assets_tests.assets.test_training import NEW_WINDOW, failing_fit, scored_version

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


def test_reexecuting_an_older_failed_run_refits_on_its_own_baseline(database_url, instance, monkeypatch):
    """A head fails on a new window; a full retrain on a third window commits; the operator then re-executes
    the failed run from failure. Its head is fitted on that run's own baseline (stored in the database, not
    overwritten by the later run), the version completes consistent, and as the newest commit it is served."""
    monkeypatch.setenv("ACM_DATABASE_URL", database_url)
    plant = make_plant(database_url, instance)
    job = dg.reconstructable(reexecution_jobs.training_job)
    tags = {"dagster/partition": CODE}
    with monkeypatch.context() as patched:
        failing_fit(patched, ModelType.iforest_model)
        with dg.execute_job(job, instance, run_config=_window(NEW_WINDOW), tags=tags) as failed:
            assert not failed.success
            failed_run_id = failed.run_id
    with dg.execute_job(job, instance, run_config=RUN_CONFIG, tags=tags) as later:
        assert later.success
    options = dg.ReexecutionOptions.from_failure(failed_run_id, instance)
    with dg.execute_job(job, instance, reexecution_options=options, tags=tags) as retried:
        assert retried.success
    assert scored_version(plant.score("2024-02-03")) == 1
    registry, equipment = plant.registry(), plant.equipment()
    manifest = registry.manifest(equipment, 1)
    assert manifest["carried_forward"] == {} and manifest["trained_on"]["window_start"].startswith("2024-01-03")
    assert manifest["models"]["iforest_model"]["run_id"] == retried.run_id


def _window(window: dict) -> dict:
    return {"ops": {"baseline": {"config": window}}}
