"""Triage decisions teach the next retrain: spans judged normal are learned, spans judged faults never are."""

import pandas as pd

from acm_assets.outputs.triage import episode_key, record_decision
from acm_assets.registry.io_manager import MODEL_VERSION_TAG
from acm_assets.simulation.simulator import FaultSpec
from acm_assets_tests.assets.conftest import BEARING, CODE, make_plant

# A new duty: the bearing runs hotter for a week, then as before.
NEW_DUTY = FaultSpec("step", "2024-01-22 00:00", "2024-01-28 23:50", (BEARING,), 4.0)


def _episodes_between(plant, first: str, last: str) -> pd.DataFrame:
    episodes = plant.table("ACM_Episodes")
    start, end = pd.Timestamp(first), pd.Timestamp(last) + pd.Timedelta(days=1)
    return episodes[(pd.to_datetime(episodes["StartTime"]) < end) & (pd.to_datetime(episodes["EndTime"]) >= start)]


def test_after_marking_the_behaviour_normal_a_replay_of_the_same_days_raises_no_episode(sqlite_url, instance):
    """Without the decision the same retrain leaves the week out and the replay raises an episode again
    (checked by hand on 2026-12-06); with it, every head learns the week (the detector library's own test shows
    such spans kept even past the contamination trim)."""
    plant = make_plant(sqlite_url, instance, days=31, faults=(NEW_DUTY,))
    assert plant.train(window={"start": "2024-01-01", "end": "2024-01-22"}).success
    assert plant.score("2024-01-22", "2024-01-28").success
    raised = _episodes_between(plant, "2024-01-22", "2024-01-28")
    assert len(raised) >= 1
    keys = sorted(episode_key(CODE, episode_id) for episode_id in raised["EpisodeID"])
    for key in keys:
        record_decision(plant.engine, key, "normal", "ana", "new duty")

    result = plant.train(window={"start": "2024-01-01", "end": "2024-01-31"})
    assert result.success
    baseline = result.asset_materializations_for_node("baseline")[0].metadata
    assert sorted(e["episode"] for e in baseline["normal_episodes"].value) == keys
    assert baseline["earlier_episodes_left_out"].value == 0
    for head in ("ar1_params", "pca_model", "iforest_model", "gmm_model", "mhal_params", "omr_model"):
        params = result.asset_materializations_for_node(head)[0].metadata["params"].value
        assert len(params["normal_spans"]) == len(keys)

    # A rerun keeps the version that scored its days unless told otherwise: the replay names the retrained one.
    version = plant.registry().latest_version(plant.equipment())
    assert plant.score("2024-01-22", "2024-01-28", tags={MODEL_VERSION_TAG: str(version)}).success
    replayed = _episodes_between(plant, "2024-01-22", "2024-01-28")
    assert replayed.empty, replayed[["EpisodeID", "ModelVersion", "PeakZ", "Culprits"]]
    assert set(plant.table("ACM_HealthTimeline").query("Day >= '2024-01-22'")["ModelVersion"]) == {version}
