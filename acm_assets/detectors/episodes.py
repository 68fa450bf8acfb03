"""Hysteresis episodes, causal so that a day-by-day run equals a one-shot run.

A fault episode opens at the first eligible point at or above the alert threshold where fused z has stayed there
through `on_hold`, or >= `strong_z` through the shorter `strong_hold` (clear faults are reported at once), or has
been there on at least half the samples of SUSTAINED_HOLDS on_holds (a slow drift's score flickers across the line
for hours before it stays above it; a healthy excursion does not keep coming back). A novelty episode opens on a
move of the operating point beyond the baseline's envelope: the novelty z rose from below the caution threshold to
the alert threshold within `on_hold` (a sudden move: a closed valve, not a season or a new load pattern drifting
out) and stayed above caution through the novelty hold, which the fusion reads off the out-of-fold points; it
becomes a fault episode when the fault evidence holds while it is open. `onset` is the first point of the evidence.
An episode closes at the first point where both scores have stayed below the alert threshold through `off_hold`
(dips shorter than that are merged into the episode), or at the first OFF / transition point: scores idling in
CAUTION are no evidence and must not hold an episode open for days. A hold is counted in time and in samples: it
needs both its duration and as many cadence steps, so a gap in the data never stands in for evidence. `alarm` is
True on every point of an open episode. Episode ids are the epoch seconds of the start: stable across batches and
reruns.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NONE = -1
FAULT_LEAD = pd.Timedelta(hours=24)
HOLDS = ("on_hold", "off_hold", "strong_hold", "novelty_hold")
FAULT, NOVELTY = "fault", "novelty"
SUSTAINED_HOLDS = 4  # a score at alert on half the samples of this many on_holds is sustained evidence too


@dataclass(frozen=True)
class Hold:
    """A hold of `ns` nanoseconds and `steps` samples (both must have passed)."""

    ns: int
    steps: int

    def passed(self, now: int, since: int, steps: int) -> bool:
        return now - since >= self.ns and steps >= self.steps


@dataclass
class EpisodeTracker:
    """The hysteresis machine's state between points (and between batches)."""

    hot_since: int | None = None  # start of the current run of points >= alert while idle (ns)
    strong_since: int | None = None  # start of the current run of points >= strong_z while idle (ns)
    quiet_since: int | None = None  # start of the current run of points < alert while open (ns)
    hot_steps: int = 0  # samples after the first of each run
    strong_steps: int = 0
    recent: list[list] = field(default_factory=list)  # [t ns, 1 if at alert] over the last SUSTAINED_HOLDS holds
    recent_hits: int = 0
    quiet_steps: int = 0
    novel_since: int | None = None  # start of the current move: novelty z at alert, then above caution (ns)
    novel_steps: int = 0
    novel_sudden: bool = False  # the move rose from below caution to alert within the on hold
    calm_at: int | None = None  # the last point with novelty z below caution (ns)
    episode_id: int | None = None
    kind: str | None = None
    start: int | None = None
    onset: int | None = None
    regime: int | None = None
    sums: list[float] = field(default_factory=list)  # running totals of the open episode (see ACCUMULATED)

    def to_dict(self) -> dict:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: dict) -> EpisodeTracker:
        return cls(**data)


def track(tracker: EpisodeTracker, times, fused, novelty, eligible, regime, *, alert_z, caution_z, strong_z,
          holds: dict, snapshots: set[int] = frozenset()):
    """Episode id per point (NONE outside episodes), {id: (start, onset, regime, kind)} of every episode seen,
    including one carried in open, and {i: a copy of the tracker before point i} for each i in `snapshots`;
    updates `tracker` in place. `holds` maps HOLDS to `Hold`s."""
    on_hold, off_hold, strong_hold, novelty_hold = (holds[name] for name in HOLDS)
    long_hold = Hold(SUSTAINED_HOLDS * on_hold.ns, SUSTAINED_HOLDS * on_hold.steps)
    ids = np.full(len(times), NONE, dtype=np.int64)
    meta = {} if tracker.episode_id is None else {tracker.episode_id: _meta(tracker)}
    t_list, z_list, n_list = times.tolist(), fused.tolist(), novelty.tolist()
    ok_list, r_list = eligible.tolist(), regime.tolist()
    tr = tracker
    copies = {}
    for i, (t, z, nz, ok) in enumerate(zip(t_list, z_list, n_list, ok_list)):
        if i in snapshots:
            copies[i] = copy.deepcopy(tr)
        if tr.episode_id is not None:
            if not ok:
                _close(tr)
            else:
                if z < alert_z and nz < alert_z:
                    if tr.quiet_since is None:
                        tr.quiet_since, tr.quiet_steps = t, 0
                    else:
                        tr.quiet_steps += 1
                    if off_hold.passed(t, tr.quiet_since, tr.quiet_steps):
                        _close(tr)
                        continue
                else:
                    tr.quiet_since, tr.quiet_steps = None, 0
                if tr.kind == NOVELTY and _fault_evidence(tr, t, z, alert_z, strong_z, on_hold, strong_hold):
                    tr.kind = FAULT
                    meta[tr.episode_id] = _meta(tr)
                ids[i] = tr.episode_id
                continue
        if not ok:
            _reset_pending(tr)
            tr.calm_at = None
            continue
        if tr.novel_since is not None and nz >= caution_z:  # a move lasts while novelty stays above caution
            tr.novel_steps += 1
        elif nz >= alert_z:
            tr.novel_since, tr.novel_steps = t, 0
            tr.novel_sudden = tr.calm_at is not None and t - tr.calm_at <= on_hold.ns
        else:
            tr.novel_since, tr.novel_steps, tr.novel_sudden = None, 0, False
        if nz < caution_z:
            tr.calm_at = t
        moved = tr.novel_sudden and novelty_hold.passed(t, tr.novel_since, tr.novel_steps)
        hit = z >= alert_z
        tr.recent.append([t, int(hit)])
        tr.recent_hits += hit
        while len(tr.recent) > long_hold.steps + 1 and t - tr.recent[1][0] >= long_hold.ns:
            tr.recent_hits -= tr.recent.pop(0)[1]  # the evidence kept spans the long hold, no more
        fault = _fault_evidence(tr, t, z, alert_z, strong_z, on_hold, strong_hold)
        sustained = hit and long_hold.passed(t, tr.recent[0][0], len(tr.recent) - 1) and \
            2 * tr.recent_hits >= len(tr.recent)
        if fault or sustained or moved:
            if fault:
                onset = tr.hot_since
            elif sustained:
                onset = next(u for u, h in tr.recent if h)
            else:
                onset = tr.novel_since
            tr.episode_id, tr.start, tr.onset, tr.regime = t // 1_000_000_000, t, onset, r_list[i]
            tr.kind = FAULT if fault or sustained else NOVELTY
            _reset_pending(tr)
            tr.quiet_since, tr.quiet_steps, tr.sums = None, 0, []
            meta[tr.episode_id] = _meta(tr)
            ids[i] = tr.episode_id
    return ids, meta, copies


def _fault_evidence(tr: EpisodeTracker, t, z, alert_z, strong_z, on_hold: Hold, strong_hold: Hold) -> bool:
    """Counts point `t` into the runs at or above alert and strong; True once either has held long enough."""
    if z < alert_z:
        tr.hot_since = tr.strong_since = None
        tr.hot_steps = tr.strong_steps = 0
        return False
    if tr.hot_since is None:
        tr.hot_since, tr.hot_steps = t, 0
    else:
        tr.hot_steps += 1
    if z < strong_z:
        tr.strong_since, tr.strong_steps = None, 0
    elif tr.strong_since is None:
        tr.strong_since, tr.strong_steps = t, 0
    else:
        tr.strong_steps += 1
    strong = tr.strong_since is not None and strong_hold.passed(t, tr.strong_since, tr.strong_steps)
    return strong or on_hold.passed(t, tr.hot_since, tr.hot_steps)


def _meta(tr: EpisodeTracker) -> tuple:
    return tr.start, tr.onset, tr.regime, tr.kind


def _reset_pending(tr: EpisodeTracker) -> None:
    """Evidence for a new episode starts again (after an episode opened, or at an OFF / transition point)."""
    tr.hot_since = tr.strong_since = tr.novel_since = None
    tr.hot_steps = tr.strong_steps = tr.recent_hits = tr.novel_steps = 0
    tr.novel_sudden = False
    tr.recent = []


def _close(tr: EpisodeTracker) -> None:
    tr.episode_id = tr.start = tr.onset = tr.regime = tr.kind = tr.quiet_since = None
    tr.quiet_steps = 0
    tr.sums = []
    _reset_pending(tr)


def running_totals(ids: np.ndarray, values: np.ndarray, peak: np.ndarray, carried_id, carried: list[float]):
    """Per episode point: cumulative sums of `values` columns and running max of `peak` from the episode's
    start, continuing the carried totals (sums..., peak) of an episode already open before this batch."""
    sums = np.full(values.shape, np.nan)
    peaks = np.full(len(ids), np.nan)
    if len(ids) == 0:
        return sums, peaks
    edges = np.flatnonzero(np.diff(ids)) + 1
    for lo, hi in zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(ids)]])):
        if ids[lo] == NONE:
            continue
        block = values[lo:hi]
        block_peak = peak[lo:hi]
        if lo == 0 and carried_id is not None and ids[0] == carried_id and carried:
            init, init_peak = np.asarray(carried[:-1]), carried[-1]
            sums[lo:hi] = np.cumsum(np.vstack([init, block]), axis=0)[1:]
            peaks[lo:hi] = np.maximum.accumulate(np.concatenate([[init_peak], block_peak]))[1:]
        else:
            sums[lo:hi] = np.cumsum(block, axis=0)
            peaks[lo:hi] = np.maximum.accumulate(block_peak)
    return sums, peaks


def inside_episodes(index, episodes) -> np.ndarray:
    """Which points of `index` lie inside an episode's [start, end] (rows of `episodes` with those columns,
    as `DetectorEnsemble.episodes` gives them)."""
    flagged = np.zeros(len(index), dtype=bool)
    for start, end in zip(episodes["start"], episodes["end"]):
        flagged |= (index >= start) & (index <= end)
    return flagged


def left_out_of_retraining(index, episodes) -> np.ndarray:
    """Points a retrain must not learn from: inside an episode or in the FAULT_LEAD before it. A fault
    builds up before its episode opens (a drift is caught at a fraction of its size, a bearing wears for
    days), and a model that learned that build-up as normal would be slower to see the next one."""
    return inside_episodes(index, episodes.assign(start=episodes["start"] - FAULT_LEAD))
