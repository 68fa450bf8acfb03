"""The baseline's condition, settled before anything is learned from it: which tags can be learned, over
which rows, and how finely each is measured.

A tag whose first readings come late or whose last come early (a historian that started logging it later, a
transmitter taken out of service) is judged on the rows between its first and last reading; the rows before
or after every kept tag has readings are left out of learning. A tag is dropped only when too little of it
remains: readings over less than MIN_SPAN_SHARE of the baseline, more than MAX_MISSING_SHARE missing in between,
or never two different values. Every decision names the rows.

Each tag's noise scale is floored by what its readings can resolve: the sensor's resolution (the smallest step
between distinct values) and LEVEL_FLOOR of its level, so a quantised temperature that sat on two counts through
the baseline does not call one more count an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from acm_assets.detectors.errors import DetectorFitError
from acm_assets.detectors.frames import numeric_tags

MAX_MISSING_SHARE = 0.5
MIN_SPAN_SHARE = 0.5
LEVEL_FLOOR = 1e-4  # of the tag's median absolute reading
_DISTINCT = 1e-9  # steps smaller than this share of a tag's largest magnitude are float noise, not resolution


@dataclass(frozen=True)
class Condition:
    tags: tuple[str, ...]
    dropped: dict  # tag -> reason
    first_ns: int  # the learning span: the rows where every kept tag has started and not yet ended
    last_ns: int
    trimmed: dict
    resolution: np.ndarray  # per kept tag, in its units
    noise_floor: np.ndarray

    def span(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of `frame` inside the learning span."""
        times = frame.index.asi8
        return frame[(times >= self.first_ns) & (times <= self.last_ns)]

    def to_params(self) -> dict:
        return {
            "dropped_tags": dict(self.dropped),
            "trimmed_rows": dict(self.trimmed),
            "resolution": {t: float(f"{v:.6g}") for t, v in zip(self.tags, self.resolution)},
            "noise_floor": {t: float(f"{v:.6g}") for t, v in zip(self.tags, self.noise_floor)},
        }


def condition_baseline(frame: pd.DataFrame, config) -> Condition:
    """The baseline's condition (`frame` has a checked UTC index)."""
    tags = list(config.tags) if config.tags is not None else list(frame.columns)
    values = numeric_tags(frame, tags, "baseline").to_numpy()
    times = frame.index.asi8
    n = len(values)
    observed = np.isfinite(values)
    dropped, spans = {}, {}
    for j, tag in enumerate(tags):
        rows = np.flatnonzero(observed[:, j])
        if rows.size == 0:
            dropped[tag] = "all missing"
            continue
        first, last = int(rows[0]), int(rows[-1])
        inside = last - first + 1
        missing = 1.0 - rows.size / inside
        if inside < MIN_SPAN_SHARE * n:
            dropped[tag] = (f"readings only from {_when(times[first])} to {_when(times[last])} "
                            f"({inside} of {n} rows)")
        elif missing > MAX_MISSING_SHARE:
            dropped[tag] = (f"{missing:.0%} missing between its first reading at {_when(times[first])} and its "
                            f"last at {_when(times[last])}")
        elif np.unique(values[rows, j]).size < 2:
            dropped[tag] = "constant"
        else:
            spans[tag] = (first, last)
    # rows before every kept tag has started (or after one has ended) are left out; a tag whose edges would
    # leave less than MIN_SPAN_SHARE of the rows goes instead
    while spans:
        first = max(f for f, _ in spans.values())
        last = min(lst for _, lst in spans.values())
        if last - first + 1 >= MIN_SPAN_SHARE * n:
            break
        worst = max(spans, key=lambda t: max(spans[t][0], n - 1 - spans[t][1]))
        f, lst = spans.pop(worst)
        dropped[worst] = (f"readings only from {_when(times[f])} to {_when(times[lst])}, which with the other tags' "
                          f"would leave less than {MIN_SPAN_SHARE:.0%} of the baseline")
    usable = tuple(t for t in tags if t in spans)
    if len(usable) < 2:
        raise DetectorFitError(f"baseline: fewer than two usable tags (dropped: {dropped or 'none'}; tags {tags})")
    first = max(spans[t][0] for t in usable)
    last = min(spans[t][1] for t in usable)
    trimmed = {}
    if first > 0:
        trimmed["leading"] = {"rows": first, "before": _when(times[first])}
    if last < n - 1:
        trimmed["trailing"] = {"rows": n - 1 - last, "after": _when(times[last])}
    kept = values[first : last + 1, [tags.index(t) for t in usable]]
    resolution = np.array([_resolution(kept[:, j]) for j in range(kept.shape[1])])
    level = np.nanmedian(np.abs(kept), axis=0)
    return Condition(
        tags=usable, dropped=dropped, first_ns=int(times[first]), last_ns=int(times[last]), trimmed=trimmed,
        resolution=resolution, noise_floor=np.maximum(resolution, LEVEL_FLOOR * level),
    )


def _resolution(x: np.ndarray) -> float:
    """The smallest step between distinct readings (0 for fewer than two)."""
    distinct = np.unique(x[np.isfinite(x)])
    if distinct.size < 2:
        return 0.0
    steps = np.diff(distinct)
    steps = steps[steps > _DISTINCT * np.max(np.abs(distinct))]
    return float(steps.min()) if steps.size else 0.0


def _when(ns) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()
