"""What a scoring run hands to the next one: the raw tail for time windows, AR lags and forward fill, the
last OFF time, and the hysteresis machine with the open episode's running totals. Plain JSON via to_dict."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from acm_assets.detectors.episodes import EpisodeTracker
from acm_assets.detectors.errors import DetectorInputError
from acm_assets.detectors.inputs import Carry

STATE_SCHEMA = 3  # 3: the hysteresis machine follows novelty moves and episode kinds


@dataclass
class ScoringState:
    models_fingerprint: str
    config_signature: str
    last_time_ns: int
    last_low_ns: int | None
    carry: Carry
    tracker: EpisodeTracker

    def to_dict(self) -> dict:
        return {
            "schema": STATE_SCHEMA,
            "models_fingerprint": self.models_fingerprint,
            "config_signature": self.config_signature,
            "last_time_ns": int(self.last_time_ns),
            "last_low_ns": None if self.last_low_ns is None else int(self.last_low_ns),
            "carry": {
                "times": self.carry.times.tolist(),
                "raw": _floats(self.carry.raw),
                "z": _floats(self.carry.z),
                "resting": self.carry.resting.tolist(),
            },
            "tracker": {**self.tracker.to_dict(), "sums": [_float(v) for v in self.tracker.sums]},
        }

    @classmethod
    def from_dict(cls, data: dict) -> ScoringState:
        if not isinstance(data, dict) or data.get("schema") != STATE_SCHEMA:
            raise DetectorInputError(
                f"scoring state: expected schema {STATE_SCHEMA}, got {data.get('schema') if isinstance(data, dict) else data!r}"
            )
        try:
            carry = data["carry"]
            p = len(carry["raw"][0]) if carry["raw"] else 0
            tracker = dict(data["tracker"])
            tracker["sums"] = [_unfloat(v) for v in tracker["sums"]]
            return cls(
                models_fingerprint=data["models_fingerprint"],
                config_signature=data["config_signature"],
                last_time_ns=int(data["last_time_ns"]),
                last_low_ns=data["last_low_ns"],
                carry=Carry(
                    times=np.asarray(carry["times"], dtype=np.int64),
                    raw=_array(carry["raw"], p),
                    z=_array(carry["z"], p),
                    resting=np.asarray(carry["resting"], dtype=bool),
                ),
                tracker=EpisodeTracker.from_dict(tracker),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorInputError(f"scoring state: malformed ({type(exc).__name__}: {exc})") from None


def _float(v: float):
    return None if math.isnan(v) else float(v)


def _unfloat(v) -> float:
    return math.nan if v is None else float(v)


def _floats(a: np.ndarray) -> list:
    return [[_float(v) for v in row] for row in a.tolist()]


def _array(rows: list, p: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, p))
    return np.array([[_unfloat(v) for v in row] for row in rows], dtype=np.float64)
