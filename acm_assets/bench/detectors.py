"""Detector speed and size: per-model fit seconds, per-head score seconds, rows/s, artifact bytes.

`python -m acm_assets.bench detectors` runs on the FD_FAN reference baseline (10,770 rows x 9 tags; the
simulator's FD_FAN stands in when ../shared is absent) and on a synthetic set ten times larger. Targets
(2 cores): fit of all eight <= 2 s, full-ensemble scoring >= 100,000 rows/s, all artifacts <= 500 KB.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from acm_assets.detectors import MODEL_DEPENDENCIES, DetectorEnsemble, EnsembleConfig, ModelType, fit_model
from acm_assets.detectors.ensemble import HEAD_OWNER
from acm_assets.detectors.fitting import FIT_ORDER
from acm_assets.detectors.inputs import Carry, build_inputs
from acm_assets.simulation.simulator import simulate

REFERENCE_BASELINE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "acm_reference" / "FD_FAN_BASELINE_DATA.csv"
TARGETS = {"fit_all_seconds": 2.0, "score_rows_per_second": 100_000, "artifact_bytes_total": 500_000}


def add_arguments(parser) -> None:
    parser.add_argument("--baseline", default=str(REFERENCE_BASELINE), help="FD_FAN baseline export")
    parser.add_argument("--scale", type=int, default=10, help="size of the synthetic set, in FD_FAN baselines")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (the best is reported)")


def run(args) -> dict:
    baseline, source = _fd_fan_baseline(Path(args.baseline))
    rows = len(baseline) * args.scale
    large = simulate("FD_FAN", days=rows / 144.0, seed=11, faults=None).frame
    return {
        "targets": TARGETS,
        "fd_fan_baseline": {"source": source, **measure(baseline, baseline, args.repeat)},
        f"synthetic_x{args.scale}": {"source": "simulator FD_FAN, 10 min", **measure(large, large, args.repeat)},
    }


def measure(baseline: pd.DataFrame, frame: pd.DataFrame, repeat: int, config: EnsembleConfig | None = None) -> dict:
    """Fit every model type alone (best of `repeat`), then time the full score and each head's share."""
    config = config or EnsembleConfig()
    fit_seconds, models = {}, {}
    for model_type in FIT_ORDER:
        deps = {d: models[d] for d in MODEL_DEPENDENCIES[model_type]}
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            models[model_type] = fit_model(model_type, baseline, config, deps)
            best = min(best, time.perf_counter() - start)
        fit_seconds[model_type.value] = round(best, 4)
    ensemble = DetectorEnsemble.from_models(models, config)
    score_seconds = _best(lambda: ensemble.score(frame), repeat)
    sizes = {t.value: len(_dump(a)) for t, a in models.items()}
    return {
        "rows": int(len(baseline)),
        "tags": int(baseline.shape[1]),
        "scored_rows": int(len(frame)),
        "fit_seconds": fit_seconds,
        "fit_all_seconds": round(sum(fit_seconds.values()), 4),
        "score_seconds": round(score_seconds, 4),
        "score_rows_per_second": int(len(frame) / score_seconds),
        "score_seconds_per_head": _head_seconds(ensemble, frame, repeat),
        "artifact_bytes": sizes,
        "artifact_bytes_total": int(sum(sizes.values())),
        "train_rows_used": models[ModelType.omr_model].train_rows,
    }


def _head_seconds(ensemble: DetectorEnsemble, frame: pd.DataFrame, repeat: int) -> dict:
    """Preparation (states, imputation, windows) and each artifact's scoring, timed separately."""
    models = ensemble.models
    regime = models[ModelType.regime_model]
    values, times = frame[list(regime.tags)].to_numpy(dtype=np.float64), frame.index.asi8

    def prepare():
        return build_inputs(
            values, times, regime, models[ModelType.feature_medians],
            last_low_ns=None, carry=Carry.empty(len(regime.tags)),
        )[0]

    out = {"inputs": round(_best(prepare, repeat), 4)}
    inputs = prepare()
    for owner in dict.fromkeys(HEAD_OWNER.values()):
        artifact = models[owner]
        out[owner.value] = round(_best(lambda a=artifact: a.z(a.inputs(inputs.matrix(a.columns))), repeat), 4)
    return out


def _fd_fan_baseline(path: Path) -> tuple[pd.DataFrame, str]:
    if path.is_file():
        from acm_assets.ingest.cleaning import clean_frame
        from acm_assets.ingest.csv_reader import read_historian_csv

        return clean_frame(read_historian_csv(path).frame, source=str(path)).frame, str(path)
    return simulate("FD_FAN", days=10770 / 48.0, cadence="30min", seed=5, faults=None).frame, "simulator FD_FAN, 30 min"


def _best(call, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def _dump(artifact) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(artifact, buffer)
    return buffer.getvalue()
