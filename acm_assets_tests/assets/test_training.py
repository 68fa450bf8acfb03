import dagster as dg
import pandas as pd
import pytest

from acm_assets.detectors import ModelType
from acm_assets.registry.errors import VersionNotFoundError
from acm_assets.settings import ENSEMBLE_CONFIG
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


def test_a_retrain_leaves_out_the_spans_earlier_models_flagged(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    assert plant.score("2024-02-03", "2024-02-04").success
    episodes = plant.table("ACM_Episodes")
    assert len(episodes) >= 1
    result = plant.train(window={"start": "2024-01-05", "end": "2024-02-05"})
    metadata = result.asset_materializations_for_node("baseline")[0].metadata
    assert metadata["earlier_episodes_left_out"].value == len(episodes)
    left_out = metadata["rows_in_earlier_episodes_left_out"].value
    expected = sum(
        len(pd.date_range(pd.Timestamp(e.StartTime).ceil("10min"), pd.Timestamp(e.EndTime), freq="10min"))
        for e in episodes.itertuples()
    )
    assert left_out == expected > 0
