import datetime as dt
import re

import dagster as dg
import pandas as pd
import pytest

from acm_assets.assets.scoring import READ_MARGIN, DayScorer, ScoredDay, score_sanity, scoring_days
from acm_assets.definitions import build_resources
from acm_assets.detectors import HEADS
from acm_assets.ingest.historian import HistorianStore
from acm_assets.simulation.simulator import simulate
from acm_assets_tests.assets.conftest import CODE

DAYS = ["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04", "2024-02-05"]


def _scores(plant) -> pd.DataFrame:
    return plant.table("ACM_Scores_Wide").drop(columns=["RunID"]).sort_values("EntryDateTime").reset_index(drop=True)


def _episodes(plant) -> pd.DataFrame:
    return plant.table("ACM_Episodes").drop(columns=["RunID"]).sort_values("EpisodeID").reset_index(drop=True)


# Gaps the day-by-day cleaning fills (two points before midnight: three cadences) or keeps as a segment break
# (an hour), and a tag's lone missing value: each day of a range run is cleaned from the range read once.
GAPS = [
    ("2024-02-02 23:45", "2024-02-03 00:05", ""),
    ("2024-02-04 15:00", "2024-02-04 16:00", ""),
    ("2024-02-05 10:00", "2024-02-05 10:05", """ AND "Tag" = 'FD1.06V35_BEARING_VIB'"""),
]
OUTPUT_TABLES = {
    "ACM_Scores_Wide": "EntryDateTime", "ACM_Episodes": "EpisodeID", "ACM_EpisodeCulprits": ["EpisodeID", "Rank"],
    "ACM_HealthTimeline": "Day", "ACM_ScoringState": "Day",
}


def _rows(plant) -> dict[str, pd.DataFrame]:
    return {
        table: plant.table(table).drop(columns=["RunID"]).sort_values(key).reset_index(drop=True)
        for table, key in OUTPUT_TABLES.items()
    }


def test_daily_runs_give_the_scores_and_episodes_of_one_long_run(plant):
    assert plant.train().success
    with plant.engine.begin() as conn:
        for start, end, tag in GAPS:
            removed = conn.exec_driver_sql(
                f"""DELETE FROM "HistorianData" WHERE "EntryDateTime" >= '{start}' AND "EntryDateTime" < '{end}'{tag}"""
            )
            assert removed.rowcount > 0, start
    long_run = plant.score(DAYS[0], DAYS[-1])
    assert long_run.success
    long_rows = _rows(plant)
    long_scores, long_episodes = _scores(plant), _episodes(plant)
    for day in DAYS:
        assert plant.score(day).success
    for table, rows in _rows(plant).items():
        pd.testing.assert_frame_equal(rows, long_rows[table], obj=table)
    assert len(long_rows["ACM_ScoringState"]) == len(long_rows["ACM_HealthTimeline"]) == len(DAYS)
    assert len(long_scores) == 5 * 144 - 6  # the hour's gap is a segment break, the short one is filled
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
    # Each day's metadata lists the episodes touching it by the ids the table holds, and the fleet-wide ID.
    listed = {
        e["EpisodeID"]
        for m in long_run.asset_materializations_for_node("anomaly_scoring")
        if m.asset_key == dg.AssetKey("anomaly_episodes")
        for e in m.metadata["episodes"].value
    }
    assert sorted(listed) == long_episodes["EpisodeID"].tolist()
    assert all(e["episode"] == f"FD_FAN:{e['EpisodeID']}" for m in long_run.asset_materializations_for_node(
        "anomaly_scoring") if m.asset_key == dg.AssetKey("anomaly_episodes") for e in m.metadata["episodes"].value)
    # Re-running the earlier day neither shrinks nor duplicates it.
    assert plant.score("2024-02-03").success
    pd.testing.assert_frame_equal(_episodes(plant), long_episodes)


def test_each_day_of_a_range_read_once_is_cleaned_as_a_read_of_that_day_with_its_margins(sqlite_plant):
    """A coarser export cadence from 02-03 changes the median step of the days around it: a day is cleaned on
    its own window, never on the range's."""
    plant = sqlite_plant
    with plant.engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM HistorianData WHERE EntryDateTime >= '2024-02-03' AND strftime('%M', EntryDateTime) "
            "NOT IN ('00', '30')"
        )
        for start, end, tag in GAPS:
            conn.exec_driver_sql(
                f"""DELETE FROM "HistorianData" WHERE "EntryDateTime" >= '{start}' AND "EntryDateTime" < '{end}'{tag}"""
            )
    database = build_resources(plant.url)["acm_database"]
    scorer = DayScorer(database, None, CODE, 1, "test", last_day=dt.date(2024, 2, 5))
    historian = HistorianStore(plant.engine)
    for day in pd.date_range("2024-02-01", "2024-02-05", tz="UTC"):
        window = historian.read_window(CODE, day - READ_MARGIN, day + pd.Timedelta(days=1) + READ_MARGIN,
                                       drop_constant=False).frame
        expected = window[(window.index >= day) & (window.index < day + pd.Timedelta(days=1))]
        pd.testing.assert_frame_equal(scorer._read(day, day + pd.Timedelta(days=1)), expected)
    assert scorer.history_span[0] == pd.Timestamp("2024-02-01", tz="UTC") - READ_MARGIN  # one read


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


def _month_versions(result) -> str:
    materializations = result.asset_materializations_for_node("anomaly_scoring")
    (last,) = [m for m in materializations if m.asset_key.path == ["anomaly_scores"]]
    return last.metadata["month_model_versions"].value


def _versions_by_day(plant) -> dict[str, set]:
    scores = plant.table("ACM_Scores_Wide")
    return scores.groupby(pd.to_datetime(scores["Day"]).dt.strftime("%Y-%m-%d"))["ModelVersion"].agg(set).to_dict()


def test_a_rerun_after_a_newer_version_keeps_the_version_that_scored_the_day(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    assert plant.score(DAYS[0], DAYS[-1]).success
    before = _episodes(plant)
    assert plant.train().success  # version 2

    rerun = plant.score("2024-02-04")  # the day the midnight episode continues on
    assert _versions_by_day(plant) == dict.fromkeys(DAYS, {1})
    pd.testing.assert_frame_equal(_episodes(plant), before)
    assert _month_versions(rerun) == "v1: 2024-02-01 .. 2024-02-05"
    # A new day takes the newest version; the month says which days each version scored.
    assert _month_versions(plant.score("2024-02-06")) == "v1: 2024-02-01 .. 2024-02-05; v2: 2024-02-06"
    # The run tag chooses another version for a rerun, and the month says so.
    pinned = plant.score("2024-02-05", tags={"acm/model_version": "2"})
    assert _month_versions(pinned) == "v1: 2024-02-01 .. 2024-02-04; v2: 2024-02-05 .. 2024-02-06"


def test_a_rerun_then_a_newer_version_leaves_the_month_consistent(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    assert plant.score(DAYS[0], DAYS[3]).success
    assert plant.score("2024-02-04").success
    before = _episodes(plant)
    assert plant.train().success  # version 2
    assert _month_versions(plant.score("2024-02-05")) == "v1: 2024-02-01 .. 2024-02-04; v2: 2024-02-05"
    # Rerunning either side of the switch keeps each day's version and the episodes' identity.
    assert plant.score("2024-02-04").success and plant.score("2024-02-05").success
    assert _versions_by_day(plant) == {**dict.fromkeys(DAYS[:4], {1}), DAYS[4]: {2}}
    crossing = _episodes(plant)[lambda e: e["EpisodeID"].isin(before["EpisodeID"])]
    pd.testing.assert_frame_equal(crossing.reset_index(drop=True), before)


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


FEBRUARY = str(dg.MultiPartitionKey({"equipment": "FD_FAN", "month": "2024-02"}))


def _figures(materialization) -> dict:
    return {k: materialization.metadata[k].value for k in ("points", "health_min", "health_mean", "alert_share")}


def test_a_month_is_materialized_with_the_figures_of_the_days_the_run_scored(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    result = plant.score(DAYS[1], DAYS[3])
    health = plant.table("ACM_HealthTimeline").sort_values("Day").reset_index(drop=True)

    [materialized] = _materializations(result, "health_timeline")
    assert str(materialized.partition) == FEBRUARY
    assert materialized.metadata["days"].value == "2024-02-02 .. 2024-02-04 (3 days)"
    scores = plant.table("ACM_Scores_Wide")
    running = scores["fused_z"].notna().sum()
    assert _figures(materialized) == {
        "points": 3 * 144, "health_min": _rounded(health["MinHealth"].min()),
        "health_mean": _rounded(scores["health"].mean()),
        "alert_share": _rounded((scores["severity"] == "ALERT").sum() / running),
    }
    # What the month's status stands for: 3 of February's 29 days are scored so far.
    coverage = {k: materialized.metadata[k].value for k in ("month_days_scored", "month_days_scorable", "month_days_unscored")}
    assert coverage == {"month_days_scored": 3, "month_days_scorable": 29,
                        "month_days_unscored": "2024-02-01, 2024-02-05 .. 2024-02-29"}
    [scored] = _materializations(result, "anomaly_scores")
    assert scored.metadata["dagster/row_count"].value == len(scores) == 3 * 144
    assert re.fullmatch(r"fused z at alert_z 3 where the 0.995 quantile of \d+ out-of-fold points lies",
                        scored.metadata["alert_z_method"].value)
    figures = {k: scored.metadata[k].value for k in ("points", "scored_points", "alert_z", "caution_z")}
    assert figures == {"points": 3 * 144, "scored_points": running, "alert_z": 3.0, "caution_z": 1.5}
    assert scored.metadata["episode_share"].value == _rounded(scores.loc[scores["fused_z"].notna(), "alarm"].mean())
    [episodes] = _materializations(result, "anomaly_episodes")
    assert episodes.metadata["dagster/row_count"].value == len(plant.table("ACM_Episodes"))
    assert materialized.metadata["plot"].value.startswith(
        "![FD_FAN 2024-02-02 .. 2024-02-04 (this run's 3 days), model v1](data:image/png;base64,"
    )

    # The next day's run (the daily schedule's) reports that day's own figures, and the month's new coverage.
    [next_day] = _materializations(plant.score(DAYS[4]), "health_timeline")
    row = plant.table("ACM_HealthTimeline").sort_values("Day").iloc[-1]
    assert next_day.metadata["days"].value == DAYS[4]
    assert _figures(next_day) == {"points": 144, "health_min": _rounded(row.MinHealth),
                                  "health_mean": _rounded(row.MeanHealth), "alert_share": _rounded(row.AlertShare)}
    assert next_day.metadata["month_days_unscored"].value == "2024-02-01, 2024-02-06 .. 2024-02-29"
    latest = plant.instance.fetch_materializations(dg.AssetKey("health_timeline"), limit=1).records[0]
    assert latest.partition_key == FEBRUARY


def test_a_range_across_months_reports_each_month_and_plots_the_run_on_its_last(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    result = plant.score("2024-01-30", "2024-02-02")
    materialized = _materializations(result, "health_timeline")
    assert [str(m.partition) for m in materialized] == ["FD_FAN|2024-01", FEBRUARY]
    assert [m.metadata["days"].value for m in materialized] == ["2024-01-30 .. 2024-01-31 (2 days)",
                                                                 "2024-02-01 .. 2024-02-02 (2 days)"]
    plots = [m.metadata["plot"].value for m in materialized]
    assert plots[0] == "with this run's last day, FD_FAN 2024-02-02"
    assert plots[1].startswith("![FD_FAN 2024-01-30 .. 2024-02-02 (this run's 4 days), model v1]")
    assert sorted(plant.table("ACM_HealthTimeline")["Day"].astype(str)) == [
        "2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"
    ]


def test_score_sanity_is_evaluated_per_month_over_the_days_scored(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    result = plant.score(DAYS[0], DAYS[2])
    [evaluation] = result.get_asset_check_evaluations()
    assert (evaluation.check_name, evaluation.partition) == ("score_sanity", FEBRUARY)
    assert evaluation.metadata["days_checked"].value == 3
    assert evaluation.metadata["points"].value == len(plant.table("ACM_Scores_Wide"))
    assert evaluation.metadata["unexplained_alert_share_limit"].value == 0.2


@pytest.mark.parametrize(
    "config, message",
    [
        ({"first_day": "02/01/2024"}, "scoring config: first_day must be a YYYY-MM-DD day, got '02/01/2024'"),
        ({"first_day": "2024-02-05", "last_day": "2024-02-01"}, "last_day 2024-02-01 is before first_day 2024-02-05"),
        ({"first_day": "2024-03-01"}, "selects no scorable day .* of this run's partitions FD_FAN\\|2024-02"),
    ],
)
def test_a_bad_day_selection_fails_the_run_naming_it(sqlite_plant, config, message):
    plant = sqlite_plant
    assert plant.train().success
    result = plant.materialize(
        dg.AssetSelection.groups("scoring"), partition_key=FEBRUARY, raise_on_error=False,
        run_config={"ops": {"anomaly_scoring": {"config": config}}},
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert re.search(message, failure.step_failure_data.error.message)
    assert plant.table("ACM_HealthTimeline").empty


def _day_scores(severity, episode_id, fused_z=1.0, state="running") -> pd.DataFrame:
    index = pd.date_range("2024-02-01", periods=len(severity), freq="10min", tz="UTC")
    return pd.DataFrame(
        {"severity": severity, "episode_id": episode_id, "fused_z": fused_z, "operating_state": state}, index=index
    )


def _episode(scores: pd.DataFrame, onset: int, start: int, end: int) -> pd.DataFrame:
    return pd.DataFrame({"onset": [scores.index[onset]], "start": [scores.index[start]], "end": [scores.index[end]]})


NO_EPISODES = pd.DataFrame({"onset": [], "start": [], "end": []})


def test_score_sanity_warns_on_alerts_no_episode_explains_and_fails_on_unscored_running_points():
    key = dg.MultiPartitionKey({"equipment": "FD_FAN", "month": "2024-02"})
    day = pd.Timestamp("2024-02-01").date()
    scores = _day_scores(["ALERT"] * 8 + ["GOOD"] * 2, [7.0] * 8 + [None] * 2)
    in_episode = score_sanity(key, [ScoredDay(day, scores, _episode(scores, 0, 0, 7))])
    assert in_episode.passed and in_episode.partition == str(key)

    isolated = _day_scores(["ALERT"] * 3 + ["GOOD"] * 7, [None] * 10)
    month = score_sanity(
        key, [ScoredDay(day, scores, _episode(scores, 0, 0, 7)), ScoredDay(day.replace(day=2), isolated, NO_EPISODES)]
    )
    assert not month.passed and month.severity == dg.AssetCheckSeverity.WARN
    assert month.description == "2024-02-02: 3 of 10 scored points (30.0%) are ALERT outside any episode, more than 20%"
    assert month.metadata["worst_day_unexplained_alert_share"].value == 0.3
    assert (month.metadata["days_checked"].value, month.metadata["alert_points"].value) == (2, 11)

    unscored_day = _day_scores(["GOOD"] * 10, [None] * 10, fused_z=[None] + [1.0] * 9)
    unscored = score_sanity(key, [ScoredDay(day, unscored_day, NO_EPISODES)])
    assert not unscored.passed and unscored.severity == dg.AssetCheckSeverity.ERROR
    assert unscored.description == "2024-02-01: 1 running points have no fused score"


def test_alerts_before_an_episode_opened_are_its_evidence_from_its_onset():
    key = dg.MultiPartitionKey({"equipment": "FD_FAN", "month": "2024-02"})
    day = pd.Timestamp("2024-02-01").date()
    scores = _day_scores(["GOOD"] + ["ALERT"] * 5 + ["GOOD"] * 4, [None] * 4 + [7.0] * 3 + [None] * 3)
    explained = score_sanity(key, [ScoredDay(day, scores, _episode(scores, 1, 4, 6))])
    assert explained.passed and explained.metadata["alert_points_outside_episodes"].value == 0
    opened_late = score_sanity(key, [ScoredDay(day, scores, _episode(scores, 4, 4, 6))])
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
    # The month is reported with the days written before the failing one.
    [materialized] = plant.instance.fetch_materializations(dg.AssetKey("anomaly_scores"), limit=10).records
    assert materialized.partition_key == FEBRUARY
    metadata = materialized.asset_materialization.metadata
    assert (metadata["days"].value, metadata["month_days_scored"].value) == ("2024-02-01 .. 2024-02-03 (3 days)", 3)


def _two_trained_fans(plant, damage: str) -> None:
    """FD_FAN and FD_FAN_B trained, then `damage` (SQL; {equip_id} is FD_FAN's) run on FD_FAN's rows."""
    store = HistorianStore(plant.engine)
    simulation = simulate("FD_FAN", start="2024-01-01", days=36, seed=4)
    store.add_equipment("FD_FAN_B", equip_type="FD_FAN", tags=simulation.tag_info)
    store.write_frame("FD_FAN_B", simulation.frame)
    plant.instance.add_dynamic_partitions("equipment", ["FD_FAN_B"])
    assert plant.train().success and plant.train(code="FD_FAN_B").success
    equip_id = plant.equipment().equip_id
    with plant.engine.begin() as conn:
        conn.exec_driver_sql(damage.format(equip_id=equip_id))


def _score_both(plant, first: dt.date, last: dt.date):
    range_tags = {"dagster/asset_partition_range_start": FEBRUARY,
                  "dagster/asset_partition_range_end": "FD_FAN_B|2024-02"}
    return plant.materialize(dg.AssetSelection.groups("scoring"), tags=range_tags, raise_on_error=False,
                             run_config=scoring_days(first, last))


def test_an_equipment_that_fails_does_not_stop_the_others_in_its_run(sqlite_plant):
    """FD_FAN lost a tag from the day before the first scored day, so the warm-up (no stored state yet) fails
    too, which used to escape every boundary and stop the whole run."""
    plant = sqlite_plant
    _two_trained_fans(plant, "DELETE FROM HistorianData WHERE Tag = 'FD1.06V35_BEARING_VIB' "
                             "AND EntryDateTime >= '2024-01-31' AND EquipID = {equip_id}")
    result = _score_both(plant, dt.date(2024, 2, 2), dt.date(2024, 2, 4))
    assert not result.success
    cause = "model version 1: DetectorInputError: scoring frame: missing trained tags ['FD1.06V35_BEARING_VIB']"
    assert _failure_message(result).startswith(
        "dagster._core.definitions.events.Failure: 1 of 2 equipment failed (the others are scored): equipment "
        f"FD_FAN, day 2024-02-02 .. 2024-02-04: {cause}"
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_failure_data.user_failure_data.metadata["failed_days"].value == [
        {"equipment": "FD_FAN", "days": "2024-02-02 .. 2024-02-04", "cause": cause}
    ]
    health = plant.table("ACM_HealthTimeline")
    assert set(health["EquipID"]) == {plant.equipment("FD_FAN_B").equip_id} and len(health) == 3
    [materialized] = plant.instance.fetch_materializations(dg.AssetKey("health_timeline"), limit=5).records
    assert materialized.partition_key == "FD_FAN_B|2024-02"


def test_an_equipment_whose_models_cannot_load_fails_alone(sqlite_plant):
    """A registry row of one equipment with broken JSON fails that equipment's days, naming the row."""
    plant = sqlite_plant
    _two_trained_fans(plant, "UPDATE ModelRegistry SET ParamsJSON = '{{\"window\": 12,,}}' "
                             "WHERE ModelType = 'gmm_model' AND EquipID = {equip_id}")
    result = _score_both(plant, dt.date(2024, 2, 2), dt.date(2024, 2, 2))
    assert not result.success
    message = _failure_message(result)
    assert "1 of 2 equipment failed (the others are scored): equipment FD_FAN, day 2024-02-02" in message
    assert "ModelRegistry row of equipment FD_FAN (EquipID 1), version 1, model type gmm_model: column ParamsJSON " \
           "is not valid JSON" in message
    assert list(plant.table("ACM_HealthTimeline")["EquipID"]) == [plant.equipment("FD_FAN_B").equip_id]


def test_a_day_whose_write_fails_is_named_and_the_written_days_are_reported(sqlite_plant):
    """A write refused by the database on one day (here a trigger, as a full disk would) fails that day; the
    days before and after it are written, and the month reports exactly those."""
    plant = sqlite_plant
    assert plant.train().success
    with plant.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_day BEFORE INSERT ON ACM_HealthTimeline WHEN NEW.Day = '2024-02-03' "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    result = plant.score(DAYS[0], DAYS[3], raise_on_error=False)
    assert not result.success
    assert "equipment FD_FAN, day 2024-02-03: model version 1: IntegrityError: " in _failure_message(result)
    assert "database or disk is full" in _failure_message(result)
    written = ["2024-02-01", "2024-02-02", "2024-02-04"]
    assert sorted(plant.table("ACM_HealthTimeline")["Day"].astype(str)) == written
    assert sorted(set(plant.table("ACM_Scores_Wide")["Day"].astype(str))) == written
    [materialized] = plant.instance.fetch_materializations(dg.AssetKey("anomaly_scores"), limit=10).records
    metadata = materialized.asset_materialization.metadata
    assert metadata["days"].value == "2024-02-01 .. 2024-02-02, 2024-02-04 (3 days)"
    assert metadata["month_days_unscored"].value == "2024-02-03, 2024-02-05 .. 2024-02-29"


def test_a_tag_new_at_scoring_time_is_named_as_untrained(sqlite_plant):
    plant = sqlite_plant
    assert plant.train().success
    new_tag = "\\\\PIAF01\\Plant\\FD_FAN|Motor Current \"A\""
    day = pd.date_range("2024-02-01", periods=144, freq="10min", tz="UTC")
    HistorianStore(plant.engine).write_frame("FD_FAN", pd.DataFrame({new_tag: range(144)}, index=day, dtype=float))
    result = plant.score(DAYS[0])
    assert result.success
    [scored] = _materializations(result, "anomaly_scores")
    assert scored.metadata["untrained_tags"].value == [new_tag]
