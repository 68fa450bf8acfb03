"""What a simulated continuous plant (CHEM_PROCESS, PUMP_RIG) gives the simulator: its tags, its process faults,
and its signals computed from random inputs drawn once, so a faulted run shares every disturbance and every noise
sample with the healthy run of the same seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Clock:
    index: pd.DatetimeIndex

    @property
    def n(self) -> int:
        return len(self.index)

    @property
    def elapsed(self) -> np.ndarray:
        """Nanoseconds since the first row."""
        return (self.index - self.index[0]).asi8

    @property
    def hours(self) -> np.ndarray:
        return self.elapsed / 3.6e12

    @property
    def dt_h(self) -> float:
        return (self.index[1] - self.index[0]) / pd.Timedelta(hours=1)


@dataclass(frozen=True)
class ActiveFault:
    """A process fault acting on rows `first` .. `last` (positions, inclusive)."""

    type: str
    first: int
    last: int
    magnitude: float

    def window(self, n: int) -> np.ndarray:
        """1.0 on the fault's rows, else 0.0."""
        inside = np.zeros(n)
        inside[self.first : self.last + 1] = 1.0
        return inside


@dataclass(frozen=True)
class ProcessFault:
    """A fault inside the plant. It enters through `tags` (the label names them, the cause's own measurements
    last-most-telling) and the plant's dynamics carry it to other tags; `magnitude` is in `unit`."""

    tags: tuple[str, ...]
    unit: str
    hours: float  # nominal window of the default schedule
    magnitudes: tuple[float, float]  # the default schedule's range


@dataclass(frozen=True)
class Plant:
    tags: dict[str, tuple[str, str]]  # tag -> (description, units)
    operating_tags: tuple[str, ...]
    cadence: pd.Timedelta  # the plant's own historian cadence, the default
    span: pd.Timedelta  # default length
    fault_tags: tuple[str, ...]  # candidates for single-tag sensor faults
    correlation_pair: tuple[str, str]
    faults: dict[str, ProcessFault]
    quanta: dict[str, float]  # tag -> recorded resolution
    draw: Callable[[Clock, np.random.Generator], Any]  # every random input of a run
    signals: Callable[[Any, ActiveFault | None, np.random.Generator | None], dict[str, np.ndarray]]
    holds: Callable[[Clock], dict[str, np.ndarray]]  # analyser tag -> row shown at every row
