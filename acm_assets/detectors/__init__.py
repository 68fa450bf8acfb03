"""Detector library: pure numpy / pandas / scikit-learn. No Dagster here.

    ens = DetectorEnsemble(EnsembleConfig()).fit(baseline)
    scores, state = ens.score_with_state(day_frame, state)
    episodes = ens.episodes(scores)
"""

from acm_assets.detectors.artifacts import Artifact, ModelType
from acm_assets.detectors.config import HEADS, ConfigError, EnsembleConfig
from acm_assets.detectors.ensemble import DetectorEnsemble
from acm_assets.detectors.errors import ArtifactMismatchError, DetectorFitError, DetectorInputError
from acm_assets.detectors.fitting import MODEL_DEPENDENCIES, fit_model
from acm_assets.detectors.state import ScoringState

__all__ = [
    "HEADS",
    "MODEL_DEPENDENCIES",
    "Artifact",
    "ArtifactMismatchError",
    "ConfigError",
    "DetectorEnsemble",
    "DetectorFitError",
    "DetectorInputError",
    "EnsembleConfig",
    "ModelType",
    "ScoringState",
    "fit_model",
]
