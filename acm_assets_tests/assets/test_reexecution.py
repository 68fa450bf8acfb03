import dagster as dg

from acm_assets.assets import training
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


def _committed_training(sqlite_url, instance, monkeypatch):
    """The plant and the run id of a training run whose version committed."""
    monkeypatch.setenv("ACM_DATABASE_URL", sqlite_url)
    plant = make_plant(sqlite_url, instance)
    with dg.execute_job(dg.reconstructable(reexecution_jobs.training_job), instance, run_config=RUN_CONFIG,
                        tags={"dagster/partition": CODE}) as first:
        assert first.success
        return plant, first.run_id


def _reexecute_omr_model(instance, run_id: str) -> list[dg.AssetMaterialization]:
    """Re-executes the run's omr_model step alone (in its run group); returns what it materialized."""
    options = dg.ReexecutionOptions(parent_run_id=run_id, step_selection=["omr_model"])
    with dg.execute_job(dg.reconstructable(reexecution_jobs.training_job), instance, reexecution_options=options,
                        tags={"dagster/partition": CODE}) as again:
        assert again.success
        return [event.materialization for event in again.get_asset_materialization_events()]


def test_reexecuting_a_step_whose_model_already_landed_leaves_one_complete_version(sqlite_url, instance, monkeypatch):
    """A step can fail after its model was stored (the event log lost its connection while recording the
    materialization). Re-executing it refits the same bytes: the group's committed version stands, and no
    second, never-completing version is opened for the one step."""
    plant, run_id = _committed_training(sqlite_url, instance, monkeypatch)
    (stored,) = _reexecute_omr_model(instance, run_id)
    registry = plant.registry()
    assert {(v.version, v.complete) for v in registry.versions(plant.equipment().equip_id)} == {(1, True)}
    assert stored.metadata["model_version"].value == 1


def test_reexecuting_a_step_of_a_committed_run_that_fits_new_bytes_commits_a_version_of_its_own(
    sqlite_url, instance, monkeypatch
):
    """Only the re-executed steps are waited for: the new version takes the refitted model and carries the
    rest from the group's committed one, instead of waiting forever for steps that do not run again."""
    plant, run_id = _committed_training(sqlite_url, instance, monkeypatch)
    real = training.fit_model

    def refit(model_type, *args, **kwargs):
        artifact = real(model_type, *args, **kwargs)
        artifact.refit_note = "different bytes"
        return artifact

    monkeypatch.setattr(training, "fit_model", refit)
    (stored,) = _reexecute_omr_model(instance, run_id)
    registry, equipment = plant.registry(), plant.equipment()
    assert {(v.version, v.complete) for v in registry.versions(equipment.equip_id)} == {(1, True), (2, True)}
    assert stored.metadata["model_version"].value == 2
    manifest = registry.manifest(equipment, 2)
    assert manifest["trained_models"] == ["omr_model"]
    assert set(manifest["carried_forward"]) == set(registry.manifest(equipment, 1)["saved_models"]) - {"omr_model"}
