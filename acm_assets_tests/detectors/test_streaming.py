"""A batch scored in one call equals the same batch scored day by day with the state carried (exactly)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from acm_assets.detectors import DetectorInputError, ScoringState


def _daily(ensemble, frame, *, through_json: bool):
    parts, state = [], None
    for _, day in frame.groupby(frame.index.floor("D")):
        scores, state = ensemble.score_with_state(day, state)
        if through_json:
            state = ScoringState.from_dict(json.loads(json.dumps(state.to_dict())))
        parts.append(scores)
    return pd.concat(parts), state


@pytest.mark.parametrize("through_json", [False, True])
def test_daily_scoring_equals_one_call(fan_ensemble, fan_batch, fan_scores, through_json):
    daily, _ = _daily(fan_ensemble, fan_batch, through_json=through_json)
    pd.testing.assert_frame_equal(daily, fan_scores, check_exact=True)
    pd.testing.assert_frame_equal(fan_ensemble.episodes(daily), fan_ensemble.episodes(fan_scores), check_exact=True)


def test_one_call_gives_the_state_chained_calls_hold_after_each_day(fan_ensemble, fan_batch, fan_scores):
    """A backfill scores a month in one call and stores each day's state: each must be the one a daily run
    would store (an episode open across midnight included), so that a rerun from any day scores alike."""
    days = sorted(set(fan_batch.index.floor("D")))
    chained, state = [], None
    for day in days:
        of_day = fan_batch[(fan_batch.index >= day) & (fan_batch.index < day + pd.Timedelta(days=1))]
        state = fan_ensemble.score_with_state(of_day, state)[1]
        chained.append(state.to_dict())
    ends = [day + pd.Timedelta(days=1) for day in days]
    scores, states = fan_ensemble.score_with_states(fan_batch, None, ends[:-1])
    pd.testing.assert_frame_equal(scores, fan_scores, check_exact=True)
    assert [s.to_dict() for s in states] == chained
    assert any(s.tracker.episode_id is not None and s.tracker.sums for s in states[:-1])


def test_uneven_splits_equal_one_call(fan_ensemble, fan_batch, fan_scores):
    cuts = [0, 1, 2, 37, 400, 401, 777, len(fan_batch)]
    parts, state = [], None
    for lo, hi in zip(cuts, cuts[1:]):
        scores, state = fan_ensemble.score_with_state(fan_batch.iloc[lo:hi], state)
        parts.append(scores)
    pd.testing.assert_frame_equal(pd.concat(parts), fan_scores, check_exact=True)


def test_episode_crossing_midnight_keeps_its_id_and_whole_span_stats(fan_ensemble, fan_batch, fan_scores):
    episodes = fan_ensemble.episodes(fan_scores)
    crossing = episodes[episodes["start"].dt.floor("D") != episodes["end"].dt.floor("D")]
    assert len(crossing) >= 1, "the fixture's faults should give at least one episode crossing midnight"
    target = crossing.iloc[0]
    day_two = target["end"].floor("D")
    first, state = fan_ensemble.score_with_state(fan_batch[fan_batch.index < day_two])
    assert fan_ensemble.episodes(first).set_index("episode_id").loc[target["episode_id"], "open"]
    second, _ = fan_ensemble.score_with_state(fan_batch[fan_batch.index >= day_two], state)
    continued = fan_ensemble.episodes(second).set_index("episode_id").loc[target["episode_id"]]
    assert continued["start"] == target["start"]
    assert continued["peak_z"] == target["peak_z"]
    assert continued["mean_z"] == target["mean_z"]
    assert continued["culprits"] == target["culprits"]


def test_state_refuses_overlapping_or_foreign_frames(fan_ensemble, fan_batch, fan_baseline):
    _, state = fan_ensemble.score_with_state(fan_batch.iloc[:100])
    with pytest.raises(DetectorInputError, match="not after the state's last scored point"):
        fan_ensemble.score_with_state(fan_batch.iloc[50:150], state)
    other = type(fan_ensemble)(fan_ensemble.config).fit(fan_baseline.iloc[:-200])
    with pytest.raises(DetectorInputError, match="other models"):
        other.score_with_state(fan_batch.iloc[100:200], state)
    with pytest.raises(DetectorInputError, match="schema"):
        ScoringState.from_dict({"schema": 99})
