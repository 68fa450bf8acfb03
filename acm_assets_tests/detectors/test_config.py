"""Typed configuration: unknown keys and bad values rejected by name; signature of effective settings."""

from __future__ import annotations

import dataclasses

import pytest

from acm_assets.detectors import ConfigError, EnsembleConfig


def test_unknown_keys_are_rejected_by_name():
    with pytest.raises(ConfigError, match="feature_windw"):
        EnsembleConfig.from_dict({"feature_windw": "1h"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"feature_window": "often"}, "feature_window must be a duration"),
        ({"feature_window": "0s"}, "feature_window must be a positive duration"),
        ({"false_alarm_rate": 0.0}, "false_alarm_rate"),
        ({"caution_z": 3.0, "alert_z": 2.0}, "caution_z"),
        ({"iforest_trees": 2.5}, "iforest_trees must be an integer"),
        ({"weights": {"lstm": 1.0}}, "unknown heads"),
        ({"weights": {h: 0.0 for h in ("ar1", "pca_spe", "pca_t2", "iforest", "gmm", "mhal", "omr")}}, "positive"),
        ({"tags": "DWATT"}, "tags must be a list"),
        ({"detect_off": "yes"}, "detect_off"),
        ({"crossfit_folds": 1}, "crossfit_folds must be an integer >= 2"),
        ({"crossfit_folds": 50}, "crossfit_folds must be <= 20"),
        ({"holdout_fraction": 0.2}, r"unknown detector settings \['holdout_fraction'\]"),
        ({"startup_settle": "3h", "max_startup_settle": "1h"}, "max_startup_settle .* must not be shorter"),
    ],
)
def test_bad_values_are_rejected_clearly(settings, message):
    with pytest.raises(ConfigError, match=message):
        EnsembleConfig.from_dict(settings)


def test_signature_hashes_effective_settings():
    base = EnsembleConfig()
    assert base.signature() == EnsembleConfig().signature()
    assert EnsembleConfig(feature_window="60min").signature() == EnsembleConfig(feature_window="1h").signature()
    assert EnsembleConfig(weights={"ar1": 1.0}).signature() == base.signature()
    assert EnsembleConfig(alert_z=3.5).signature() != base.signature()
    # settings that cannot act do not change the code version
    assert (
        EnsembleConfig(detect_off=False, off_fraction=0.2).signature()
        == EnsembleConfig(detect_off=False).signature()
    )


def test_config_is_never_rewritten():
    config = EnsembleConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.alert_z = 5.0  # type: ignore[misc]
