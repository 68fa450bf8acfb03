"""The hysteresis machine: holds counted in time and in samples; an episode ends when the evidence falls back."""

from __future__ import annotations

import numpy as np

from acm_assets.detectors.episodes import FAULT, HOLDS, NONE, NOVELTY, EpisodeTracker, Hold, track

MINUTE = 60 * 10**9
HOLDS_10MIN = {"on_hold": Hold(60 * MINUTE, 6), "off_hold": Hold(60 * MINUTE, 6), "strong_hold": Hold(20 * MINUTE, 2),
               "novelty_hold": Hold(120 * MINUTE, 12)}


def _track(times_min, z, novelty=None, tracker=None):
    times = np.asarray(times_min, dtype=np.int64) * MINUTE
    z = np.asarray(z, dtype=float)
    novelty = np.full(len(z), -np.inf) if novelty is None else np.asarray(novelty, dtype=float)
    ids, meta, _ = track(tracker or EpisodeTracker(), times, z, novelty, np.ones(len(z), bool),
                      np.zeros(len(z), np.int64), alert_z=3.0, caution_z=1.5, strong_z=6.0, holds=HOLDS_10MIN)
    return ids if tracker is None else (ids, meta)


def test_the_holds_are_the_named_ones():
    assert set(HOLDS) == set(HOLDS_10MIN)


def test_an_hour_above_alert_opens_an_episode():
    ids = _track(range(0, 80, 10), [4.0] * 8)
    assert (ids[:6] == NONE).all() and (ids[6:] != NONE).all()


def test_a_gap_in_the_data_is_no_evidence():
    """Two readings an hour and a half apart have the duration of the hold, not its samples."""
    ids = _track([0, 90, 100], [4.0, 4.0, 4.0])
    assert (ids == NONE).all()


def test_a_score_flickering_across_alert_for_hours_opens_an_episode():
    """A slow drift: every other sample at alert for four hours. No hour is ever all at alert."""
    z = [4.0, 2.0] * 16
    ids = _track(range(0, 320, 10), z)
    opened = np.flatnonzero(ids != NONE)
    assert len(opened) and opened[0] == 24  # the 25th sample closes four holds of evidence


def test_an_excursion_now_and_then_opens_none():
    ids = _track(range(0, 480, 10), [4.0, 2.0, 1.0] * 16)
    assert (ids == NONE).all()


def test_sub_alert_scores_let_an_episode_close():
    """Fused z idling between caution and alert is no longer evidence: the episode ends after off_hold."""
    z = [8.0] * 4 + [2.5] * 30
    ids = _track(range(0, 340, 10), z)
    open_points = np.flatnonzero(ids != NONE)
    assert open_points[0] == 2  # strong: z >= 6 for 20 min
    assert open_points[-1] < 4 + 6 and (ids[12:] == NONE).all()


def test_short_dips_below_alert_are_merged():
    z = [8.0] * 4 + [2.0] * 3 + [5.0] * 4 + [1.0] * 8
    ids = _track(range(0, 190, 10), z)
    assert len(set(ids[ids != NONE])) == 1 and (ids[2:11] != NONE).all()


def test_episodes_report_their_share_of_points_at_alert(fan_ensemble, fan_scores):
    episodes = fan_ensemble.episodes(fan_scores)
    assert len(episodes)
    for episode in episodes.itertuples():
        inside = fan_scores[fan_scores["episode_id"] == episode.episode_id]
        assert episode.alert_share == (inside["fused_z"] >= 3.0).mean()


def test_a_sudden_lasting_move_of_the_operating_point_opens_a_novelty_episode():
    """Novelty z jumps from calm to 5 and stays: after the novelty hold (2 h here) an episode of kind novelty."""
    tracker = EpisodeTracker()
    ids, meta = _track(range(0, 300, 10), [0.5] * 30, [0.0] * 5 + [5.0] * 25, tracker)
    opened = np.flatnonzero(ids != NONE)
    assert opened[0] == 5 + 12 and [kind for *_, kind in meta.values()] == [NOVELTY]


def test_a_gradual_drift_beyond_the_envelope_opens_none():
    """The same level reached over a day (a season, a load pattern): flagged, never an episode."""
    drift = np.linspace(0.0, 5.0, 144)
    ids = _track(range(0, 1440, 10), [0.5] * 144, drift)
    assert (ids == NONE).all()


def test_fault_evidence_inside_a_novelty_episode_makes_it_a_fault():
    tracker = EpisodeTracker()
    ids, meta = _track(range(0, 300, 10), [0.5] * 20 + [4.0] * 10, [0.0] * 2 + [5.0] * 28, tracker)
    assert len(meta) == 1 and next(iter(meta.values()))[3] == FAULT
