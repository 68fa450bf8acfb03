"""Checks on incoming frames: a UTC DatetimeIndex, strictly increasing, numeric tags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_assets.detectors.errors import DetectorInputError


def checked_index(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """The frame with a tz-aware UTC index; duplicate or unsorted timestamps are refused, naming one."""
    if not isinstance(frame, pd.DataFrame):
        raise DetectorInputError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DetectorInputError(f"{what}: the index must be a DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise DetectorInputError(f"{what}: the index is timezone-naive; localize it to UTC first")
    if index.hasnans:
        raise DetectorInputError(f"{what}: the index has missing timestamps (NaT)")
    if str(index.tz) != "UTC":
        frame = frame.set_axis(index.tz_convert("UTC"))
        index = frame.index
    if index.has_duplicates:
        raise DetectorInputError(f"{what}: duplicate timestamp {index[index.duplicated()][0]}; deduplicate first")
    if not index.is_monotonic_increasing:
        bad = np.flatnonzero(np.diff(index.asi8) < 0)[0]
        raise DetectorInputError(f"{what}: timestamps are not sorted ({index[bad]} before {index[bad + 1]})")
    return frame


def numeric_tags(frame: pd.DataFrame, tags, what: str) -> pd.DataFrame:
    """The listed tags as float64; names missing or non-numeric tags in one message."""
    missing = [tag for tag in tags if tag not in frame.columns]
    if missing:
        raise DetectorInputError(f"{what}: missing tags {missing}")
    bad = [tag for tag in tags if not _is_numeric(frame[tag])]
    if bad:
        raise DetectorInputError(f"{what}: non-numeric tags {bad}; convert them or leave them out of `tags`")
    return frame[list(tags)].astype("float64")


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
