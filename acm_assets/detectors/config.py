"""Typed, validated ensemble settings; the signature hashes the effective settings only."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from acm_assets.detectors import durations

HEADS = ("ar1", "pca_spe", "pca_t2", "iforest", "gmm", "mhal", "omr")
SCHEMA_VERSION = 1


class ConfigError(ValueError):
    """A setting is unknown or has a bad value."""


_DURATIONS = durations.NAMES


@dataclass(frozen=True)
class EnsembleConfig:
    """Every setting of the ensemble. Durations are pandas offsets in time ("30min", "2h"), never row counts;
    a duration of None (the default) is derived from the baseline's cadence and length (`durations.py`).

    `tags` / `operating_tags` / `load_tag` of None mean "detect from the baseline" (all numeric tags; tags
    whose names look like load, power, current, speed, flow or damper; the most load-like of those).
    `startup_settle` is the shortest settling time after a start-up; the regime model lengthens it up to
    `max_startup_settle` when the baseline's start-ups show slower thermal settling (equal values: fixed).
    """

    tags: tuple[str, ...] | None = None
    operating_tags: tuple[str, ...] | None = None
    load_tag: str | None = None
    detect_off: bool = True
    off_fraction: float = 0.1
    low_load_fraction: float = 0.5
    ramp_fraction: float = 0.25
    startup_settle: str | None = None
    max_startup_settle: str | None = None
    feature_window: str | None = None
    ffill_limit: str | None = None
    ar_max_gap: str | None = None
    crossfit_folds: int = 5
    trim_z: float = 8.0
    min_baseline_rows: int = 100
    min_regime_rows: int = 200
    max_regimes: int = 4
    silhouette_floor: float = 0.5
    max_train_rows: int = 20_000
    max_calibration_rows: int = 2_000
    pca_variance: float = 0.9
    iforest_trees: int = 64
    iforest_samples: int = 128
    gmm_max_components: int = 3
    mhal_max_condition: float = 1e6
    omr_alpha: float = 1.0
    weights: Mapping[str, float] | tuple[tuple[str, float], ...] = field(default=())
    fusion_power: float = 4.0
    false_alarm_rate: float = 0.005
    caution_z: float = 1.5
    alert_z: float = 3.0
    on_hold: str | None = None
    strong_z: float = 6.0
    strong_hold: str | None = None
    off_hold: str | None = None
    top_culprits: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("tags", "operating_tags"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                    raise ConfigError(f"{name} must be a list of tag names, got {value!r}")
                if len(set(value)) != len(value):
                    raise ConfigError(f"{name} has duplicate tag names: {list(value)}")
                set_(self, name, tuple(value))
        if self.load_tag is not None and (not isinstance(self.load_tag, str) or not self.load_tag):
            raise ConfigError(f"load_tag must be a tag name or None, got {self.load_tag!r}")
        if not isinstance(self.detect_off, bool):
            raise ConfigError(f"detect_off must be true or false, got {self.detect_off!r}")
        for name in _DURATIONS:
            if getattr(self, name) is not None:
                _duration(name, getattr(self, name))
        settles = (self.startup_settle, self.max_startup_settle)
        if None not in settles and _duration("max_startup_settle", settles[1]) < _duration("startup_settle", settles[0]):
            raise ConfigError(
                f"max_startup_settle ({self.max_startup_settle}) must not be shorter than startup_settle "
                f"({self.startup_settle})"
            )
        _number("off_fraction", self.off_fraction, 0.0, 1.0)
        _number("low_load_fraction", self.low_load_fraction, 0.0, 1.0)
        _number("ramp_fraction", self.ramp_fraction, 0.0, math.inf, open_low=True)
        _number("trim_z", self.trim_z, 3.0, math.inf)
        _number("silhouette_floor", self.silhouette_floor, 0.0, 1.0)
        _number("pca_variance", self.pca_variance, 0.5, 0.999)
        _number("mhal_max_condition", self.mhal_max_condition, 10.0, math.inf)
        _number("omr_alpha", self.omr_alpha, 0.0, math.inf, open_low=True)
        _number("fusion_power", self.fusion_power, 1.0, 16.0)
        _number("false_alarm_rate", self.false_alarm_rate, 0.0, 0.2, open_low=True)
        _number("caution_z", self.caution_z, 0.0, math.inf, open_low=True)
        _number("alert_z", self.alert_z, 0.0, math.inf, open_low=True)
        if self.caution_z >= self.alert_z:
            raise ConfigError(f"caution_z ({self.caution_z}) must be below alert_z ({self.alert_z})")
        _number("strong_z", self.strong_z, self.alert_z, math.inf)
        for name, low in (
            ("min_baseline_rows", 20),
            ("crossfit_folds", 2),
            ("min_regime_rows", 20),
            ("max_regimes", 1),
            ("max_train_rows", 500),
            ("max_calibration_rows", 100),
            ("iforest_trees", 8),
            ("iforest_samples", 16),
            ("gmm_max_components", 1),
            ("top_culprits", 1),
            ("seed", 0),
        ):
            _integer(name, getattr(self, name), low)
        if self.iforest_samples > 1024:
            raise ConfigError(f"iforest_samples must be <= 1024 (artifact size), got {self.iforest_samples}")
        weights = dict(self.weights)
        unknown = sorted(set(weights) - set(HEADS))
        if unknown:
            raise ConfigError(f"weights: unknown heads {unknown}; heads are {list(HEADS)}")
        for head, weight in weights.items():
            _number(f"weights[{head}]", weight, 0.0, math.inf)
        full = {head: float(weights.get(head, 1.0)) for head in HEADS}
        if not any(full.values()):
            raise ConfigError("weights: at least one head needs a positive weight")
        set_(self, "weights", tuple(full.items()))

    @classmethod
    def from_dict(cls, settings: Mapping) -> EnsembleConfig:
        """Build from plain settings (e.g. Dagster run config); unknown keys are rejected by name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"unknown detector settings {unknown}; valid settings are {sorted(known)}")
        return cls(**dict(settings))

    def weight(self, head: str) -> float:
        return dict(self.weights)[head]

    def seconds(self, name: str) -> float | None:
        """An explicit duration in seconds; None when it is derived from the baseline."""
        value = getattr(self, name)
        return None if value is None else _duration(name, value).total_seconds()

    def effective(self) -> dict:
        """The settings as used: explicit durations in seconds, derived ones by their rule, weights for every
        head, unused settings left out."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _DURATIONS:
                value = self.seconds(f.name) if value is not None else f"auto: {durations.rule(f.name)}"
            elif f.name == "weights":
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        if not self.detect_off:
            for name in ("off_fraction", "low_load_fraction", "ramp_fraction", "startup_settle", "max_startup_settle"):
                out.pop(name)
        if self.operating_tags == ():
            for name in ("load_tag", "max_regimes", "silhouette_floor", "min_regime_rows"):
                out.pop(name, None)
        return out

    def signature(self) -> str:
        """Stable hash of the effective settings (the Dagster code version of every detector asset)."""
        text = json.dumps({"schema": SCHEMA_VERSION, **self.effective()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _duration(name: str, value) -> pd.Timedelta:
    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a duration such as '30min' or '2h', got {value!r}") from None
    if pd.isna(delta) or delta < pd.Timedelta(0) or (name == "feature_window" and delta <= pd.Timedelta(0)):
        raise ConfigError(f"{name} must be a positive duration, got {value!r}")
    return delta


def _number(name: str, value, low: float, high: float, *, open_low: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value < low or value > high or (open_low and value == low):
        bound = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
        raise ConfigError(f"{name} must be in {bound}, got {value!r}")


def _integer(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
