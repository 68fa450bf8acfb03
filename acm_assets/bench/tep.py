"""Tennessee Eastman (the Braatz files) on the standard protocol, beside textbook and PyOD detectors.

`python -m acm_assets.bench tep --data ../shared/data/tep` fits every method on `d00.dat` alone (500 samples,
no labels), scores `d00_te.dat` and each `dNN_te.dat` as separate runs (no history carried in; a regular
3-minute index each) and prints JSON per method: FAR on `d00_te.dat` and on samples 1-160 of the fault runs,
FDR per fault (samples 161-960), the mean FDR over the 18 detectable faults (all but 3, 9 and 15), and the
detection delay per fault (minutes from sample 161 to the first alarm at or after it).

Methods: `acm`, the product's `DetectorEnsemble()` defaults, alarming inside episodes (`alarm`), with its
point-wise `fused_z >= alert_z` beside it; `pca_9` and `pca_90`, the textbook PCA T²|Q at 99 % with 9
components and with 90 % of the variance; `pyod_ecod` and `pyod_iforest`, PyOD's ECOD and IForest with their
limits at the 99th percentile of their training scores (`pyod` is the `bench` extra; without it they are
reported as skipped).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from acm_assets.bench.yardstick import PCAMonitor
from acm_assets.detectors import DetectorEnsemble, EnsembleConfig

TAGS = tuple(f"XMEAS{i:02d}" for i in range(1, 42)) + tuple(f"XMV{i:02d}" for i in range(1, 12))
CADENCE = pd.Timedelta(minutes=3)
TRAIN_SAMPLES, TEST_SAMPLES, FAULT_AT = 500, 960, 160
FAULTS = tuple(range(1, 22))
UNDETECTABLE = (3, 9, 15)
LIMIT = 0.99
TARGETS = {
    "far_d00_te": "<= 0.02",
    "far_pre_fault": "<= 0.02",
    "mean_fdr_18": ">= 0.93",
    "fdr_3_9_15": "<= 0.10 each",
}


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=Path("../shared/data/tep"), help="folder of the Braatz files")


def run(args) -> dict:
    train, tests = read_files(Path(args.data))
    methods = {}
    for name, build in METHODS.items():
        started = time.perf_counter()
        try:
            alarm_sets = build(train, tests)
        except ModuleNotFoundError as exc:
            methods[name] = {"skipped": f"{exc.name} is not installed (pip install -e '.[bench]')"}
            continue
        seconds = round(time.perf_counter() - started, 2)
        for label, alarms in alarm_sets.items():
            methods[label] = {**summarize(alarms), "seconds": seconds}
    return {"targets": TARGETS, "protocol": {"train": "d00.dat", "cadence": "3min", "fault_from_sample": FAULT_AT + 1,
                                             "limit": LIMIT}, "methods": methods}


def read_files(folder: Path) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """`d00.dat` (stored transposed, 52 x 500) and `d00_te.dat` .. `d21_te.dat` (960 x 52) as frames."""
    if not folder.is_dir():
        raise SystemExit(f"Tennessee Eastman files not found: {folder} is not a folder")
    train = _read(folder / "d00.dat", TRAIN_SAMPLES, transposed=True)
    return train, {k: _read(folder / f"d{k:02d}_te.dat", TEST_SAMPLES) for k in (0, *FAULTS)}


def _read(path: Path, samples: int, *, transposed: bool = False) -> pd.DataFrame:
    if not path.is_file():
        raise SystemExit(f"Tennessee Eastman file missing: {path}")
    values = np.loadtxt(path)
    if transposed and values.shape == (len(TAGS), samples):
        values = values.T
    if values.shape != (samples, len(TAGS)):
        raise SystemExit(f"{path}: expected {samples} samples of {len(TAGS)} variables, got shape {values.shape}")
    index = pd.date_range("2000-01-01", periods=samples, freq=CADENCE, tz="UTC")
    return pd.DataFrame(values, index=index, columns=list(TAGS))


def summarize(alarms: dict[int, np.ndarray]) -> dict:
    """The protocol's figures from each run's alarms (run 0 is `d00_te.dat`)."""
    fdr = {k: float(alarms[k][FAULT_AT:].mean()) for k in FAULTS}
    delays = {}
    for k in FAULTS:
        hits = np.flatnonzero(alarms[k][FAULT_AT:])
        delays[k] = float(hits[0] * CADENCE / pd.Timedelta(minutes=1)) if hits.size else None
    pre = np.concatenate([alarms[k][:FAULT_AT] for k in FAULTS])
    detectable = [k for k in FAULTS if k not in UNDETECTABLE]
    return {
        "far_d00_te": round(float(alarms[0].mean()), 4),
        "far_pre_fault": round(float(pre.mean()), 4),
        "mean_fdr_18": round(float(np.mean([fdr[k] for k in detectable])), 4),
        "fdr": {str(k): round(v, 4) for k, v in fdr.items()},
        "delay_minutes": {str(k): v for k, v in delays.items()},
    }


def _acm(train, tests) -> dict:
    config = EnsembleConfig()
    ensemble = DetectorEnsemble(config).fit(train)
    scores = {k: ensemble.score(frame) for k, frame in tests.items()}
    return {
        "acm": {k: s["alarm"].to_numpy(dtype=bool) for k, s in scores.items()},
        "acm_pointwise": {k: (s["fused_z"] >= config.alert_z).to_numpy() for k, s in scores.items()},
    }


def _pca(label: str, **settings):
    def build(train, tests) -> dict:
        monitor = PCAMonitor(alpha=1.0 - LIMIT, **settings).fit(train.to_numpy())
        return {label: {k: monitor.alarms(frame.to_numpy()) for k, frame in tests.items()}}

    return build


def _pyod(label: str, detector: str):
    def build(train, tests) -> dict:
        if detector == "ecod":
            from pyod.models.ecod import ECOD

            model = ECOD(contamination=1.0 - LIMIT)
        else:
            from pyod.models.iforest import IForest

            model = IForest(contamination=1.0 - LIMIT, random_state=0)
        model.fit(train.to_numpy())
        return {label: {k: model.decision_function(frame.to_numpy()) > model.threshold_ for k, frame in tests.items()}}

    return build


METHODS = {
    "acm": _acm,
    "pca_9": _pca("pca_9", components=9),
    "pca_90": _pca("pca_90", variance=0.9),
    "pyod_ecod": _pyod("pyod_ecod", "ecod"),
    "pyod_iforest": _pyod("pyod_iforest", "iforest"),
}
