import dagster as dg
import pandas as pd
import pytest

from acm_assets.detectors import HEADS

DAYS = ["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04", "2024-02-05"]


def _scores(plant) -> pd.DataFrame:
    return plant.table("ACM_Scores_Wide").drop(columns=["RunID"]).sort_values("EntryDateTime").reset_index(drop=True)


def _episodes(plant) -> pd.DataFrame:
    return plant.table("ACM_Episodes").drop(columns=["RunID"]).sort_values("EpisodeID").reset_index(drop=True)


def test_daily_runs_give_the_scores_and_episodes_of_one_long_run(plant):
    assert plant.train().success
    long_run = plant.score(DAYS[0], DAYS[-1])
    assert long_run.success
    long_scores, long_episodes = _scores(plant), _episodes(plant)
    for day in DAYS:
        assert plant.score(day).success
    pd.testing.assert_frame_equal(_scores(plant), long_scores)
    pd.testing.assert_frame_equal(_episodes(plant), long_episodes)
    assert len(long_scores) == 5 * 144
    assert set(pd.to_datetime(long_scores["Day"]).dt.strftime("%Y-%m-%d")) == set(DAYS)
    assert {f"{head}_z" for head in HEADS} <= set(long_scores.columns)

    # The injected fault crosses midnight: one episode row, extended by the next day's run.
    crossing = long_episodes[
        (pd.to_datetime(long_episodes["StartTime"]) < pd.Timestamp("2024-02-04"))
        & (pd.to_datetime(long_episodes["EndTime"]) >= pd.Timestamp("2024-02-04"))
    ]
    assert len(crossing) == 1
    assert "FD1.06T32_BEARING_TEMP" in crossing["Culprits"].iloc[0]
    culprits = plant.table("ACM_EpisodeCulprits")
    assert (culprits["EpisodeID"] == crossing["EpisodeID"].iloc[0]).sum() >= 1
    # The run's metadata lists the episodes by the ids the table holds (what keep_episodes takes).
    materialized = long_run.asset_materializations_for_node("anomaly_scoring")
    listed = next(m for m in materialized if m.asset_key == dg.AssetKey("anomaly_episodes")).metadata["episodes"]
    assert [e["EpisodeID"] for e in listed.value["FD_FAN"]] == long_episodes["EpisodeID"].tolist()
    # Re-running the earlier day neither shrinks nor duplicates it.
    assert plant.score("2024-02-03").success
    pd.testing.assert_frame_equal(_episodes(plant), long_episodes)


def test_rerunning_a_day_replaces_its_rows_and_reports_the_model_version(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    first = plant.score(DAYS[0])
    rerun = plant.score(DAYS[0])
    scores = plant.table("ACM_Scores_Wide")
    assert len(scores) == 144 and set(scores["RunID"]) == {rerun.run_id}
    metadata = rerun.asset_materializations_for_node("anomaly_scoring")[0].metadata
    assert metadata["model_version"].value == 1
    assert first.success


def test_a_pinned_model_version_is_used_and_a_missing_one_is_a_clear_error(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    assert plant.train().success
    assert plant.score(DAYS[0], tags={"acm/model_version": "1"}).success
    assert set(plant.table("ACM_Scores_Wide")["ModelVersion"]) == {1}
    result = plant.score(DAYS[0], tags={"acm/model_version": "99"}, raise_on_error=False)
    assert not result.success
    message = _failure_message(result)
    assert "99" in message and "FD_FAN" in message


def test_a_day_without_data_is_an_empty_successful_partition(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    result = plant.score("2024-03-01")
    assert result.success
    assert plant.table("ACM_Scores_Wide").empty
    health = plant.table("ACM_HealthTimeline")
    assert list(health["Points"]) == [0]


def test_a_tag_missing_at_scoring_time_is_named(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    with plant.engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM HistorianData WHERE Tag = 'FD1.06V35_BEARING_VIB' AND EntryDateTime >= '2024-02-01'"
        )
    result = plant.score(DAYS[1], raise_on_error=False)
    assert not result.success
    assert "FD1.06V35_BEARING_VIB" in _failure_message(result)


def _failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "expected a failed step"
    error = failures[0].step_failure_data.error
    text = []
    while error is not None:
        text.append(error.message)
        error = error.cause
    return "\n".join(text)


def test_scores_need_a_trained_model(sqlite_plant):
    result = sqlite_plant.score(DAYS[0], raise_on_error=False)
    assert not result.success
    assert "no complete model version" in _failure_message(result)


@pytest.mark.parametrize("day", ["2024-02-02"])
def test_a_health_plot_is_in_the_metadata(sqlite_plant, day):
    plant = sqlite_plant
    assert plant.train().success
    result = plant.score(day)
    metadata = {
        k: v
        for m in result.asset_materializations_for_node("anomaly_scoring")
        if m.asset_key == dg.AssetKey("health_timeline")
        for k, v in m.metadata.items()
    }
    assert metadata["plot_FD_FAN"].value.startswith("![FD_FAN](data:image/png;base64,")
