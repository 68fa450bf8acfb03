import threading

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from acm_assets.assets import training
from acm_assets.assets.training import model_quality
from acm_assets.detectors import DetectorFitError, ModelType
from acm_assets.detectors.calibration import Z_CLIP
from acm_assets.detectors.episodes import FAULT_LEAD
from acm_assets.registry.errors import VersionNotFoundError
from acm_assets.settings import ENSEMBLE_CONFIG
from acm_assets.outputs.triage import episode_key, record_decision
from acm_assets_tests.assets.conftest import CODE, make_plant

MODEL_TYPES = {t.value for t in ModelType}


def _check_results(result) -> dict[str, bool]:
    return {
        f"{e.asset_check_evaluation_data.asset_key.to_user_string()}:{e.asset_check_evaluation_data.check_name}": (
            e.asset_check_evaluation_data.passed
        )
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_a_training_run_commits_one_complete_version(plant):
    result = plant.train()
    assert result.success
    registry, equipment = plant.registry(), plant.equipment()
    assert registry.latest_version(equipment) == 1
    manifest = registry.manifest(equipment, 1)
    assert set(manifest["saved_models"]) == MODEL_TYPES
    assert manifest["config_signature"] == ENSEMBLE_CONFIG.signature()
    rows = plant.table("ModelRegistry")
    assert set(rows["RunID"].astype(str).str.replace("-", "")) == {result.run_id.replace("-", "")}
    checks = _check_results(result)
    assert checks["baseline:baseline_quality"] is True
    assert all(checks[f"{t}:model_quality"] for t in MODEL_TYPES - {"regime_model", "feature_medians"})
    # What the regime model found is at the top of its materialization, the params (the knots) below the facts.
    regime = next(m for m in result.asset_materializations_for_node("regime_model"))
    keys = list(regime.metadata)
    assert keys.index("baseline") < keys.index("stop_detection") < keys.index("params")
    assert regime.metadata["baseline"].value.endswith(f"at 10 min, {len(manifest['models']['regime_model']['train_sensors'])} tags")
    assert regime.metadata["redundant_tags"].value == manifest["models"]["regime_model"]["params"]["redundant_tags"]
    assert regime.metadata["stop_detection"].value == "data"
    assert "FD1.06I03_MOTOR_CURRENT" in regime.metadata["stop_tags"].value
    assert regime.metadata["durations"].value["on_hold_s"] == 3600.0
    # each head says how it was calibrated and how reliable it proved out of fold, before its knots
    pca = next(m for m in result.asset_materializations_for_node("pca_model"))
    keys = list(pca.metadata)
    assert keys.index("calibration") < keys.index("pca_t2_reliability") < keys.index("params")
    # the knots are an entry of their own after the params, out of the params a person reads
    knots = pca.metadata["calibration_knots"].value
    assert sorted(knots) == ["calibration/pca_spe", "calibration/pca_t2"]
    assert keys.index("params") < keys.index("calibration_knots")
    assert "knots_z" not in str(pca.metadata["params"].value)
    assert len(knots["calibration/pca_t2"]["knots_raw"]) == len(knots["calibration/pca_t2"]["knots_z"]) > 2
    assert pca.metadata["calibration"].value.startswith("time-blocked cross-fitting: 5 folds, gap ")
    assert 0.2 <= pca.metadata["pca_spe_reliability"].value <= 1.0


def test_model_assets_carry_the_config_signature_as_code_version():
    from acm_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for model_type in MODEL_TYPES:
        assert graph.get(dg.AssetKey(model_type)).code_version == ENSEMBLE_CONFIG.signature()


def test_rematerializing_one_detector_commits_a_new_complete_version(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    before = plant.registry().load(plant.equipment(), "pca_model")
    assert plant.train(selection=["baseline", "iforest_model"]).success
    registry, equipment = plant.registry(), plant.equipment()
    assert registry.latest_version(equipment) == 2
    carried = registry.manifest(equipment, 2)["carried_forward"]
    assert carried == {t: 1 for t in MODEL_TYPES - {"iforest_model"}}
    assert registry.load(equipment, "pca_model").sha256 == before.sha256


def test_too_little_history_fails_the_baseline_check_and_writes_no_model(sqlite_url, instance):
    plant = make_plant(sqlite_url, instance, days=2, faults=())
    result = plant.train(window={"start": "2024-01-01", "end": "2024-01-02"}, raise_on_error=False)
    checks = _check_results(result)
    assert checks["baseline:baseline_quality"] is False
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {"baseline"}
    with pytest.raises(VersionNotFoundError):
        plant.registry().latest_version(plant.equipment())
    assert plant.table("ModelRegistry").empty


def test_an_unknown_equipment_partition_is_refused(sqlite_plant):
    with pytest.raises(dg.DagsterUnknownPartitionError, match="NOPE"):
        sqlite_plant.train(code="NOPE")


def _left_out_rows(episodes: pd.DataFrame, window_start: str) -> int:
    """10-minute historian rows from FAULT_LEAD before each episode's start to its end, inside the window."""
    stamps = pd.DatetimeIndex([])
    for e in episodes.itertuples():
        first = max(pd.Timestamp(e.StartTime) - FAULT_LEAD, pd.Timestamp(window_start))
        stamps = stamps.union(pd.date_range(first.ceil("10min"), pd.Timestamp(e.EndTime), freq="10min"))
    return len(stamps)


def test_a_retrain_leaves_out_flagged_spans_and_the_day_before_unless_triaged_normal(plant):
    assert plant.train().success
    assert plant.score("2024-02-03", "2024-02-04").success
    episodes = plant.table("ACM_Episodes")
    assert len(episodes) >= 1
    kept = int(episodes["EpisodeID"].iloc[0])
    record_decision(plant.engine, episode_key(CODE, kept), "fault", "ana")
    result = plant.train(window={"start": "2024-01-05", "end": "2024-02-05"})
    metadata = result.asset_materializations_for_node("baseline")[0].metadata
    assert metadata["earlier_episodes_left_out"].value == len(episodes)
    left_out = metadata["rows_left_out_near_earlier_episodes"].value
    assert left_out == _left_out_rows(episodes, "2024-01-05") > 0
    assert [e["episode"] for e in metadata["fault_episodes"].value] == [episode_key(CODE, kept)]
    assert metadata["normal_episodes"].value == []

    record_decision(plant.engine, episode_key(CODE, kept), "normal", "bo", "start-up after the overhaul")
    result = plant.train(window={"start": "2024-01-05", "end": "2024-02-05"})
    metadata = result.asset_materializations_for_node("baseline")[0].metadata
    assert [e["episode"] for e in metadata["normal_episodes"].value] == [episode_key(CODE, kept)]
    assert metadata["fault_episodes"].value == []
    assert metadata["earlier_episodes_left_out"].value == len(episodes) - 1
    expected = _left_out_rows(episodes[episodes["EpisodeID"] != kept], "2024-01-05")
    assert metadata["rows_left_out_near_earlier_episodes"].value == expected < left_out
    # every head learns the span as normal: the spans travel with the stored baseline
    for head in ("ar1_params", "gmm_model"):
        params = result.asset_materializations_for_node(head)[0].metadata["params"].value
        assert len(params["normal_spans"]) == 1


@pytest.fixture(scope="module")
def gmm_artifact():
    from acm_assets.detectors import MODEL_DEPENDENCIES, fit_model
    from acm_assets.simulation.simulator import simulate

    frame = simulate("FD_FAN", start=pd.Timestamp("2024-01-01", tz="UTC"), days=14, seed=3, faults=()).frame
    models = {}
    for model_type in (ModelType.regime_model, ModelType.feature_medians, ModelType.gmm_model):
        upstream = {t.value: models[t.value] for t in MODEL_DEPENDENCIES[model_type]}
        models[model_type.value] = fit_model(model_type, frame, ENSEMBLE_CONFIG, upstream)
    return models["gmm_model"]


def _with_holdout(artifact, z: np.ndarray):
    copy = type(artifact).__new__(type(artifact))
    copy.__dict__.update(artifact.__dict__)
    copy.oof_z = {head: z.astype(np.float32) for head in artifact.oof_z}
    copy.oof_times = np.arange(len(z), dtype=np.int64)
    return copy


def _holdout(n: int, alarms: int = 0, at_clip: int = 0, nan: int = 0) -> np.ndarray:
    z = np.zeros(n)
    z[:alarms] = ENSEMBLE_CONFIG.alert_z + 0.5
    z[alarms : alarms + at_clip] = Z_CLIP
    z[alarms + at_clip : alarms + at_clip + nan] = np.nan
    return z


@pytest.mark.parametrize(
    "z, passed",
    [
        (_holdout(328, alarms=5), True),  # 1.5% of a short slice: chance, not a broken head
        (_holdout(5000, alarms=75), True),
        (_holdout(328, alarms=20), False),
        (_holdout(5000, alarms=150), False),
        (_holdout(328, at_clip=15), False),
        (_holdout(328, nan=1), False),
        (_holdout(0), False),
    ],
)
def test_model_quality_tests_the_held_out_counts_against_the_limits(gmm_artifact, z, passed):
    check = model_quality(_with_holdout(gmm_artifact, z))
    assert check.passed is passed
    problems = check.metadata["problems"].value
    assert bool(problems) is not passed
    assert all(problem.startswith("gmm: ") for problem in problems)


def test_the_real_gmm_head_passes_its_quality_check(gmm_artifact):
    assert model_quality(gmm_artifact).passed


# Two baselines that share no timestamp (as after a retrain on fresh data) and a later, overlapping one.
EARLY_WINDOW = {"start": "2024-01-01", "end": "2024-01-17"}
LATE_WINDOW = {"start": "2024-01-17", "end": "2024-02-02"}
NEW_WINDOW = {"start": "2024-01-03", "end": "2024-02-02"}


def failing_fit(monkeypatch, failing: ModelType, gate=None):
    """The real fit, except that `failing` raises (a head that failed on this baseline) or, with `gate`,
    feature_medians waits for it in the thread named "retrain" (a run still in progress)."""
    real = training.fit_model

    def fit(model_type, *args, **kwargs):
        if ModelType(model_type) is failing and gate is None:
            raise DetectorFitError(f"{failing.value} told to fail")
        if gate is not None and ModelType(model_type) is ModelType.feature_medians and threading.current_thread().name == "retrain":
            gate["reached"].set()
            assert gate["release"].wait(300)
        return real(model_type, *args, **kwargs)

    monkeypatch.setattr(training, "fit_model", fit)


def scored_version(result) -> int:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "anomaly_scores"]
    return event.materialization.metadata["model_version"].value


def test_rerunning_the_failed_model_refits_on_the_carried_versions_baseline(plant, monkeypatch):
    """A: a good run, a run on a new window in which one head fails, then that head rerun from the UI
    (Materialize on the one asset): the rerun fits on the baseline of the version it carries from."""
    assert plant.train(window=EARLY_WINDOW).success
    with monkeypatch.context() as patched:
        failing_fit(patched, ModelType.iforest_model)
        assert not plant.train(window=LATE_WINDOW, raise_on_error=False).success
    assert plant.materialize(["iforest_model"], partition_key="FD_FAN").success
    scores = plant.score("2024-02-03")
    assert scores.success and scored_version(scores) == 3
    registry, equipment = plant.registry(), plant.equipment()
    manifest = registry.manifest(equipment)
    assert (manifest["version"], manifest["trained_models"]) == (3, ["iforest_model"])
    assert manifest["carried_forward"] == {t: 1 for t in MODEL_TYPES - {"iforest_model"}}
    first = registry.manifest(equipment, 1)["trained_on"]
    assert manifest["trained_on"] == first and first["window_start"].startswith("2024-01-01")


def test_a_retrain_committed_after_a_subset_version_is_what_scoring_uses(plant, monkeypatch):
    """A: a full retrain started before a one-head rerun and committed after it wins, whatever the numbers."""
    assert plant.train().success
    gate = {"reached": threading.Event(), "release": threading.Event()}
    failing_fit(monkeypatch, ModelType.feature_medians, gate)
    outcome = {}
    retrain = threading.Thread(target=lambda: outcome.update(result=plant.train(window=NEW_WINDOW)), name="retrain")
    retrain.start()
    try:
        assert gate["reached"].wait(300)
        subset = plant.materialize(["iforest_model"], partition_key="FD_FAN")
        assert subset.success
    finally:
        gate["release"].set()
        retrain.join(timeout=600)
    assert outcome["result"].success
    registry, equipment = plant.registry(), plant.equipment()
    assert registry.manifest(equipment, 3)["trained_models"] == ["iforest_model"]
    assert set(registry.manifest(equipment, 2)["trained_models"]) == MODEL_TYPES
    assert registry.latest_version(equipment) == 2
    scores = plant.score("2024-02-03")
    assert scored_version(scores) == 2


def test_a_subset_on_a_new_baseline_is_refused_naming_the_models(sqlite_plant):
    """Rematerializing the baseline on another window with one head: the head would disagree with the seven
    carried models, so the commit is refused and the served version stays the consistent one."""
    plant = sqlite_plant
    assert plant.train().success
    result = plant.train(selection=["baseline", "pca_model"], window=NEW_WINDOW, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "refusing to commit version 2 of equipment FD_FAN" in message
    assert "pca_model (trained by this run) on training data" in message and "(carried from v1)" in message
    assert plant.registry().latest_version(plant.equipment()) == 1


def test_an_upgraded_database_gets_its_training_data_table(sqlite_plant):
    """A ModelRegistry from before ModelTrainingData existed: the training run creates the table itself."""
    plant = sqlite_plant
    with plant.engine.begin() as conn:
        conn.exec_driver_sql('DROP TABLE "ModelTrainingData"')
    assert plant.train().success
    assert len(plant.table("ModelTrainingData")) == 1
