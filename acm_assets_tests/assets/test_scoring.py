import re

import dagster as dg
import pandas as pd
import pytest

from acm_assets.assets.scoring import score_sanity
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
    # Each episode row says how much of it reached the alert level (its points at or above alert_z).
    points = long_scores[long_scores["episode_id"] == crossing["EpisodeID"].iloc[0]]
    assert crossing["AlertShare"].iloc[0] == pytest.approx((points["fused_z"] >= 3.0).mean())
    culprits = plant.table("ACM_EpisodeCulprits")
    assert (culprits["EpisodeID"] == crossing["EpisodeID"].iloc[0]).sum() >= 1
    # Each day's metadata lists the episodes touching it by the ids the table holds (what keep_episodes takes).
    listed = {
        e["EpisodeID"]
        for m in long_run.asset_materializations_for_node("anomaly_scoring")
        if m.asset_key == dg.AssetKey("anomaly_episodes")
        for e in m.metadata["episodes"].value
    }
    assert sorted(listed) == long_episodes["EpisodeID"].tolist()
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


def _materializations(result, asset: str) -> list:
    return [m for m in result.asset_materializations_for_node("anomaly_scoring") if m.asset_key == dg.AssetKey(asset)]


def _rounded(value):
    """As the metadata shows a figure: a day without running points has no health."""
    return None if pd.isna(value) else round(value, 4)


def test_each_day_is_materialized_in_order_with_its_own_figures(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    result = plant.score(DAYS[1], DAYS[3])
    health = plant.table("ACM_HealthTimeline").sort_values("Day").reset_index(drop=True)

    materialized = _materializations(result, "health_timeline")
    keys = [str(dg.MultiPartitionKey({"equipment": "FD_FAN", "day": day})) for day in DAYS[1:4]]
    assert [str(m.partition) for m in materialized] == keys
    figures = [{k: m.metadata[k].value for k in ("points", "health_min", "health_mean", "alert_share")}
               for m in materialized]
    assert figures == [
        {"points": 144, "health_min": _rounded(row.MinHealth), "health_mean": _rounded(row.MeanHealth),
         "alert_share": _rounded(row.AlertShare)}
        for row in health.itertuples()
    ]
    assert figures[0] != figures[1]  # the day's own figures, not the run's
    scored = _materializations(result, "anomaly_scores")
    methods = {m.metadata["alert_threshold"].value for m in scored}  # one model version: one threshold method
    assert len(methods) == 1
    assert re.fullmatch(r"empirical quantile|(exponential tail over the top|conformal rank) \d+ of \d+ held-out points",
                        methods.pop())
    episodes = _materializations(result, "anomaly_episodes")
    assert [m.metadata["dagster/row_count"].value for m in episodes] == [len(m.metadata["episodes"].value)
                                                                        for m in episodes]
    # The instance's latest materialization is the last day (the UI's "latest").
    latest = plant.instance.fetch_materializations(dg.AssetKey("health_timeline"), limit=1).records[0]
    assert latest.partition_key == keys[-1]
    # One plot per run, on its last day and labelled as the run's; the other days point to it.
    plots = [m.metadata["plot"].value for m in materialized]
    assert plots[-1].startswith("![FD_FAN 2024-02-02 .. 2024-02-04 (this run's 3 days), model v1](data:image/png;base64,")
    assert plots[:-1] == ["with this run's last day, FD_FAN 2024-02-04"] * 2


def test_score_sanity_is_evaluated_per_day(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    result = plant.score(DAYS[0], DAYS[2])
    evaluations = result.get_asset_check_evaluations()
    assert [(e.check_name, e.partition) for e in evaluations] == [
        ("score_sanity", str(dg.MultiPartitionKey({"equipment": "FD_FAN", "day": day}))) for day in DAYS[:3]
    ]
    scores = plant.table("ACM_Scores_Wide")
    for evaluation, (_, day_scores) in zip(evaluations, scores.groupby("Day")):
        assert evaluation.metadata["points"].value == len(day_scores)
        assert evaluation.metadata["unexplained_alert_share_limit"].value == 0.2


def _day_scores(severity, episode_id, fused_z=1.0, state="running") -> pd.DataFrame:
    index = pd.date_range("2024-02-01", periods=len(severity), freq="10min", tz="UTC")
    return pd.DataFrame(
        {"severity": severity, "episode_id": episode_id, "fused_z": fused_z, "operating_state": state}, index=index
    )


def _episode(scores: pd.DataFrame, onset: int, start: int, end: int) -> pd.DataFrame:
    return pd.DataFrame({"onset": [scores.index[onset]], "start": [scores.index[start]], "end": [scores.index[end]]})


NO_EPISODES = pd.DataFrame({"onset": [], "start": [], "end": []})


def test_score_sanity_warns_on_alerts_no_episode_explains_and_fails_on_unscored_running_points():
    key = dg.MultiPartitionKey({"equipment": "FD_FAN", "day": "2024-02-01"})
    scores = _day_scores(["ALERT"] * 8 + ["GOOD"] * 2, [7.0] * 8 + [None] * 2)
    in_episode = score_sanity(key, scores, _episode(scores, 0, 0, 7))
    assert in_episode.passed and in_episode.partition == str(key)

    isolated = score_sanity(key, _day_scores(["ALERT"] * 3 + ["GOOD"] * 7, [None] * 10), NO_EPISODES)
    assert not isolated.passed and isolated.severity == dg.AssetCheckSeverity.WARN
    assert isolated.description == "3 of 10 scored points (30.0%) are ALERT outside any episode, more than 20%"
    assert isolated.metadata["unexplained_alert_share"].value == 0.3

    unscored = score_sanity(key, _day_scores(["GOOD"] * 10, [None] * 10, fused_z=[None] + [1.0] * 9), NO_EPISODES)
    assert not unscored.passed and unscored.severity == dg.AssetCheckSeverity.ERROR
    assert unscored.description == "1 running points have no fused score"


def test_alerts_before_an_episode_opened_are_its_evidence_from_its_onset():
    key = dg.MultiPartitionKey({"equipment": "FD_FAN", "day": "2024-02-01"})
    scores = _day_scores(["GOOD"] + ["ALERT"] * 5 + ["GOOD"] * 4, [None] * 4 + [7.0] * 3 + [None] * 3)
    explained = score_sanity(key, scores, _episode(scores, 1, 4, 6))
    assert explained.passed and explained.metadata["alert_points_outside_episodes"].value == 0
    opened_late = score_sanity(key, scores, _episode(scores, 4, 4, 6))
    assert not opened_late.passed and opened_late.metadata["alert_points_outside_episodes"].value == 3


def test_a_failing_day_keeps_the_days_scored_before_it(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    with plant.engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM HistorianData WHERE Tag = 'FD1.06V35_BEARING_VIB' AND EntryDateTime >= '2024-02-03'"
        )
    result = plant.score(DAYS[0], DAYS[4], raise_on_error=False)
    assert not result.success
    # 02-03 still reads the tag within its 6 h margin; 02-04 is the first day without it.
    assert sorted(plant.table("ACM_HealthTimeline")["Day"].astype(str)) == DAYS[:3]
    materialized = plant.instance.fetch_materializations(dg.AssetKey("anomaly_scores"), limit=10).records
    assert sorted(r.partition_key for r in materialized) == [
        str(dg.MultiPartitionKey({"equipment": "FD_FAN", "day": day})) for day in DAYS[:3]
    ]
