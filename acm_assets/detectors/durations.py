"""The durations in effect for one baseline: explicit settings as given, defaults derived from the baseline's
own cadence and length, so one default configuration works from 1 s to 1 h cadence and from a few hundred
samples to a year of baseline.

The forward-fill limit and the AR gap count samples: a stale reading and a lag are matters of readings,
whatever the clock says. The feature window and the start-up settling time are physical (ramps and thermal
lags do not shrink with the sample interval) but bounded by what the baseline can show: a number of samples
and a fraction of its span. Holds count samples too, but never less than a share of the feature window:
scores built from overlapping windows stay up for about a window by themselves, and a hold that a single
noisy window can fill confirms nothing. At the 10-minute cadence the rules give the durations this library
always used (2 h windows, 1 h holds, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# name -> samples of the baseline cadence
PER_CADENCE = {
    "ffill_limit": 6,
    "ar_max_gap": 12,
    "on_hold": 6,
    "off_hold": 6,
    "strong_hold": 2,
}
# hold -> share of the feature window it lasts at least
WINDOW_SHARE = {"on_hold": 0.5, "off_hold": 0.5, "strong_hold": 1 / 6}
HOUR_NS = 3600 * 10**9
# name -> (physical duration, at most this many samples, at most this share of the baseline span)
BOUNDED_PHYSICAL = {
    "feature_window": (2 * HOUR_NS, 120, 0.05),
    "startup_settle": (2 * HOUR_NS, 120, 0.05),
    "max_startup_settle": (12 * HOUR_NS, 720, 0.25),
}
NAMES = (*PER_CADENCE, *BOUNDED_PHYSICAL)


def rule(name: str) -> str:
    """The default rule of a duration, as recorded in the configuration signature."""
    if name in WINDOW_SHARE:
        return f"max({PER_CADENCE[name]} cadences, {WINDOW_SHARE[name]:.3g} feature window)"
    if name in PER_CADENCE:
        return f"{PER_CADENCE[name]} cadences"
    duration, samples, share = BOUNDED_PHYSICAL[name]
    return f"min({duration / HOUR_NS:g} h, {samples} cadences, {share:g} of the span)"


@dataclass(frozen=True)
class Durations:
    """Every duration in nanoseconds, with the baseline facts they were derived from."""

    cadence_ns: int
    span_ns: int
    rows: int
    values_ns: dict
    derived: tuple[str, ...]

    @classmethod
    def derive(cls, times: np.ndarray, config) -> Durations:
        """`config` durations that are None follow the rules above; explicit ones are kept."""
        cadence = int(np.median(np.diff(times))) if len(times) > 1 else 0
        span = int(times[-1] - times[0]) if len(times) > 1 else 0
        values, derived = {}, []
        for name in NAMES:
            explicit = config.seconds(name)
            if explicit is not None:
                values[name] = int(round(explicit * 1e9))
                continue
            derived.append(name)
            if name in PER_CADENCE:
                values[name] = PER_CADENCE[name] * cadence
            else:
                duration, samples, share = BOUNDED_PHYSICAL[name]
                values[name] = max(min(duration, samples * cadence, int(share * span)), cadence)
        values["max_startup_settle"] = max(values["max_startup_settle"], values["startup_settle"])
        for name, share in WINDOW_SHARE.items():
            if name in derived:
                values[name] = max(values[name], int(share * values["feature_window"]))
        return cls(cadence, span, len(times), values, tuple(derived))

    @staticmethod
    def names() -> tuple[str, ...]:
        return NAMES

    def ns(self, name: str) -> int:
        return self.values_ns[name]

    def steps(self, name: str) -> int:
        """A hold in samples: the number of cadence steps it spans (at least one)."""
        if self.cadence_ns <= 0:
            return 1
        return max(1, int(np.ceil(self.values_ns[name] / self.cadence_ns - 1e-9)))

    def to_params(self) -> dict:
        return {
            "cadence_s": self.cadence_ns / 1e9,
            "baseline_span_s": self.span_ns / 1e9,
            "baseline_rows": self.rows,
            **{f"{name}_s": value / 1e9 for name, value in self.values_ns.items()},
            "derived": list(self.derived),
        }
