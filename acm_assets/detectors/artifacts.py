"""What every persisted model carries: its type, a schema stamp, its tags and plain-JSON manifest fields."""

from __future__ import annotations

import hashlib
from enum import Enum

import numpy as np

ARTIFACT_SCHEMA = 4  # 4: head inputs named by (kind, tag) pairs, never by parsing a tag name


class ModelType(str, Enum):
    """The eight persisted model types; the values are the seed system's names (ModelType VARCHAR(16))."""

    feature_medians = "feature_medians"
    ar1_params = "ar1_params"
    pca_model = "pca_model"
    iforest_model = "iforest_model"
    gmm_model = "gmm_model"
    mhal_params = "mhal_params"
    omr_model = "omr_model"
    regime_model = "regime_model"

    def __str__(self) -> str:
        return self.value


class Artifact:
    """Base of the eight artifacts. `fingerprint` hashes the baseline, settings and upstream fingerprints,
    so two artifacts that must match (a head and the regime model it was trained under) can be checked."""

    model_type: ModelType
    schema = ARTIFACT_SCHEMA
    baseline_fingerprint = ""  # the rows it was fitted on: every artifact of one ensemble shares them

    def __init__(self, *, tags, fingerprint: str, upstream: dict, train_rows: int, params: dict):
        self.tags = tuple(tags)
        self.fingerprint = fingerprint
        self.upstream = dict(upstream)
        self.train_rows = int(train_rows)
        self.train_sensors = list(self.tags)
        self.params = params

    @property
    def schema_stamp(self) -> str:
        return f"acm_assets.detectors/{self.model_type.value}/v{self.schema}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_type.value} tags={len(self.tags)} rows={self.train_rows}>"


def fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]
