"""The detector settings of this code location: defaults, or a JSON file named by `$ACM_ENSEMBLE_CONFIG`.

Read once when the definitions load, never written: their signature is the code version of every model
asset, so editing the file marks the models stale in the UI until an operator retrains.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from acm_assets.detectors import ConfigError, EnsembleConfig

ENSEMBLE_CONFIG_ENV = "ACM_ENSEMBLE_CONFIG"


def load_ensemble_config() -> EnsembleConfig:
    path = os.environ.get(ENSEMBLE_CONFIG_ENV)
    if not path:
        return EnsembleConfig()
    try:
        settings = json.loads(Path(path).read_text())
        if not isinstance(settings, dict):
            raise ConfigError("expected a JSON object of settings")
        return EnsembleConfig.from_dict(settings)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{ENSEMBLE_CONFIG_ENV}={path}: {exc}") from exc


ENSEMBLE_CONFIG = load_ensemble_config()
