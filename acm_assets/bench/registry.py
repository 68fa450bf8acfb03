"""ModelRegistry: save and load one version of eight artifacts against the raw floor, twice: synthetic
FD_FAN-sized objects, and the real FD_FAN artifacts (DetectorEnsemble fitted on the reference export).

The floor, measured in the same run on the same database: `joblib.dump` of the same objects plus one INSERT
per row in one transaction (save), and the matching SELECT plus `joblib.load` (load). The registry pickles
with the C pickler (protocol 5) and unpickles its own rows with `pickle.loads`, which is why it can beat the
floor: joblib's pickler and unpickler are pure Python. The registry save is
measured twice: as the IO manager does it (one transaction per model with its training data fingerprint
and upstream hashes, the last one committing the version after the consistency check) and as one
transaction for the whole version (`import_version`, what `acm registry import` uses).
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import joblib
import numpy as np
import sqlalchemy as sa
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import Ridge
from sklearn.mixture import GaussianMixture

from acm_assets.bench.detectors import REFERENCE_BASELINE
from acm_assets.database import create_engine, redact
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.schema import create_registry_table, model_registry as t, training_data
from acm_assets.registry.store import ModelStore, TrainingInfo, dumps

MODEL_TYPES = (
    "feature_medians",
    "ar1_params",
    "pca_model",
    "iforest_model",
    "gmm_model",
    "mhal_params",
    "omr_model",
    "regime_model",
)
BENCH_EQUIPMENT = Equipment(990001, "BENCH_FD_FAN")
FLOOR_EQUIPMENT_ID = 990002


def add_arguments(parser) -> None:
    parser.add_argument("--repeats", type=int, default=15, help="timed repetitions per measurement (median reported)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ACM_TEST_POSTGRES_URL"),
        help="server URL; a scratch database is created and dropped (default: $ACM_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--reference", type=Path, default=REFERENCE_BASELINE, help="the FD_FAN reference export the real artifacts are fitted on"
    )


def fd_fan_sized_models(seed: int = 0) -> dict[str, object]:
    """Eight fitted objects shaped like FD_FAN's artifacts (10,770 baseline rows, ~60 engineered features)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(10_770, 60))
    return {
        "feature_medians": {"medians": np.median(x, axis=0), "columns": [f"f{i}" for i in range(60)]},
        "ar1_params": {"phi": rng.normal(size=9), "sigma": rng.random(9), "mu": rng.normal(size=9)},
        "pca_model": PCA(n_components=10, random_state=seed).fit(x),
        "iforest_model": IsolationForest(n_estimators=100, random_state=seed).fit(x),
        "gmm_model": GaussianMixture(n_components=3, random_state=seed).fit(x[:3000]),
        "mhal_params": {"mean": x.mean(axis=0), "precision": np.linalg.pinv(np.cov(x, rowvar=False))},
        "omr_model": Ridge(alpha=1.0).fit(x, x[:, ::-1]),
        "regime_model": KMeans(n_clusters=4, n_init=1, random_state=seed).fit(x[:3000]),
    }


def fd_fan_reference_models(path: Path) -> dict[str, object]:
    """The eight real artifacts of the FD_FAN reference export, fitted as the training assets fit them."""
    from acm_assets.detectors import DetectorEnsemble
    from acm_assets.ingest.csv_reader import read_historian_csv
    from acm_assets.settings import ENSEMBLE_CONFIG

    frame = read_historian_csv(path).clean().frame
    return {t.value: artifact for t, artifact in DetectorEnsemble(ENSEMBLE_CONFIG).fit(frame).models.items()}


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up: connections, caches
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def bench_database(url: str, models: dict[str, object], repeats: int) -> dict:
    engine = create_engine(url)
    create_registry_table(engine)
    store = ModelStore(engine)
    floor_version = iter(range(1, 10_000))

    trained_on = {"id": "b" * 64, "equipment": BENCH_EQUIPMENT.code, "rows": 10_770, "sha256": "c" * 64}

    def save_per_model() -> None:
        run_id = str(uuid.uuid4())
        hashes: dict[str, str] = {}
        for model_type in MODEL_TYPES:
            upstream = {name: {"version": 1, "sha256": digest} for name, digest in hashes.items()}
            result = store.save(
                BENCH_EQUIPMENT,
                model_type,
                models[model_type],
                run_id=run_id,
                root_run_id=run_id,
                expected_types=MODEL_TYPES,
                info=TrainingInfo(train_rows=10_770, trained_on=trained_on, upstream=upstream),
            )
            if model_type == "feature_medians":  # what the heads record as their upstream
                hashes[model_type] = result.sha256

    def save_one_transaction() -> None:
        payloads = {
            model_type: (dumps(models[model_type], BENCH_EQUIPMENT, model_type), TrainingInfo(train_rows=10_770))
            for model_type in MODEL_TYPES
        }
        store.import_version(BENCH_EQUIPMENT, payloads, source="bench")

    def floor_save() -> None:
        version = next(floor_version)
        with engine.begin() as conn:
            for model_type in MODEL_TYPES:
                buffer = io.BytesIO()
                joblib.dump(models[model_type], buffer)
                conn.execute(
                    sa.insert(t),
                    {"ModelType": model_type, "EquipID": FLOOR_EQUIPMENT_ID, "Version": version, "ModelBytes": buffer.getvalue()},
                )

    def load() -> None:
        store.load_version(BENCH_EQUIPMENT)

    def floor_load() -> None:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.ModelType, t.c.ModelBytes).where(t.c.EquipID == FLOOR_EQUIPMENT_ID, t.c.Version == 1)
            ).all()
        for _, payload in rows:
            joblib.load(io.BytesIO(payload))

    try:
        save_ms = _median_ms(_time(save_per_model, repeats))
        save_tx_ms = _median_ms(_time(save_one_transaction, repeats))
        floor_save_ms = _median_ms(_time(floor_save, repeats))
        load_ms = _median_ms(_time(load, repeats))
        floor_load_ms = _median_ms(_time(floor_load, repeats))
        version_bytes = sum(info.bytes for info in store.versions(BENCH_EQUIPMENT.equip_id)[:1])
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.EquipID.in_([BENCH_EQUIPMENT.equip_id, FLOOR_EQUIPMENT_ID])))
            conn.execute(sa.delete(training_data).where(training_data.c.EquipID == BENCH_EQUIPMENT.equip_id))
        engine.dispose()
    return {
        "database": redact(url),
        "version_bytes": version_bytes,
        "save_ms_per_model_transactions": save_ms,
        "save_ms_one_transaction": save_tx_ms,
        "floor_save_ms": floor_save_ms,
        "save_ratio_per_model_transactions": round(save_ms / floor_save_ms, 2),
        "save_ratio_one_transaction": round(save_tx_ms / floor_save_ms, 2),
        "load_ms": load_ms,
        "floor_load_ms": floor_load_ms,
        "load_ratio": round(load_ms / floor_load_ms, 2),
    }


def _scratch_postgres(server_url: str):
    """A fresh database on the server for the bench, dropped afterwards."""
    name = f"acm_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url, drop


def run(args) -> dict:
    models = fd_fan_sized_models()
    result = {
        "artifacts": len(models),
        "repeats": args.repeats,
        "targets": {"save_ratio": 1.3, "load_ratio": 1.3, "sqlite_save_ms": 50, "sqlite_load_ms": 30},
    }
    result.update(_on_each_database(args, models))
    if args.reference.is_file():
        result["fd_fan_reference"] = {"source": str(args.reference), **_on_each_database(args, fd_fan_reference_models(args.reference))}
    else:
        result["fd_fan_reference"] = f"skipped: {args.reference} not found"
    return result


def _on_each_database(args, models: dict[str, object]) -> dict:
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = bench_database(f"sqlite:///{Path(tmp) / 'bench.db'}", models, args.repeats)
    if args.postgres_url:
        url, drop = _scratch_postgres(args.postgres_url)
        try:
            result["postgresql"] = bench_database(url, models, args.repeats)
        finally:
            drop()
    else:
        result["postgresql"] = "skipped: no --postgres-url and no $ACM_TEST_POSTGRES_URL"
    return result
