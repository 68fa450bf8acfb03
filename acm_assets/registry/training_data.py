"""The data sets models were fitted on, in `ModelTrainingData`, so every host (a Celery worker, a pod) reads
the same one and a subset rerun can refit against the data of the version it carries from.

A data set is a time-indexed `pd.DataFrame`, stored as a NumPy `.npz` without pickles (loading it runs no
code). Its fingerprint is generic: equipment, window, row count and a SHA-256 of the content; its `id`
(a hash of all of those) is what model manifests record as `trained_on`. Rows are inserted, never
updated: a run reading a data set is never overtaken by a newer run's.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from acm_assets.registry import integrity
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.errors import IntegrityError, RegistryError, VersionNotFoundError
from acm_assets.registry.schema import training_data as d
from acm_assets.registry.store import ModelStore, utcnow, to_json


@dataclass(frozen=True)
class TrainingData:
    """A loaded data set: the frame, its fingerprint, and the model version it was found through (None when
    the run group wrote it itself)."""

    frame: pd.DataFrame
    fingerprint: Mapping[str, Any]
    from_version: int | None = None


def encode(frame: pd.DataFrame, what: str) -> tuple[bytes, str]:
    """The `.npz` payload and the SHA-256 of the frame's content (index, column names, dtypes, values)."""
    if not isinstance(frame, pd.DataFrame) or not isinstance(frame.index, pd.DatetimeIndex):
        raise RegistryError(f"{what}: training data must be a DataFrame with a DatetimeIndex, got {type(frame).__name__}")
    arrays = {"index": frame.index.tz_localize(None).to_numpy()}
    for position, column in enumerate(frame.columns):
        values = frame[column].to_numpy()
        if values.dtype == object:
            raise RegistryError(f"{what}: column {column!r} holds Python objects; training data must be numeric")
        arrays[f"c{position}"] = values
    header = {
        "columns": [str(column) for column in frame.columns],
        "tz": None if frame.index.tz is None else str(frame.index.tz),
        "index_name": frame.index.name,
    }
    digest = hashlib.sha256(to_json(header).encode())
    for name, values in arrays.items():
        digest.update(f"{name}:{values.dtype.str}:".encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(to_json(header).encode(), dtype=np.uint8), **arrays)
    return buffer.getvalue(), digest.hexdigest()


def decode(payload: bytes) -> pd.DataFrame:
    with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
        header = json.loads(arrays["header"].tobytes())
        index = pd.DatetimeIndex(arrays["index"], name=header["index_name"])
        if header["tz"]:
            index = index.tz_localize(header["tz"])
        columns = {name: arrays[f"c{position}"] for position, name in enumerate(header["columns"])}
    return pd.DataFrame(columns, index=index, columns=header["columns"])


def fingerprint(equipment: Equipment, content_sha256: str, rows: int, window: Mapping[str, Any]) -> dict:
    facts = {
        "equipment": equipment.code,
        "equip_id": equipment.equip_id,
        "rows": rows,
        "sha256": content_sha256,
        **{key: value if isinstance(value, list) else str(value) for key, value in window.items() if value is not None},
    }
    return {"id": hashlib.sha256(to_json(facts).encode()).hexdigest(), **facts}


class TrainingDataStore:
    """Data sets per equipment and run group in `ModelTrainingData`, found by fingerprint id."""

    def __init__(self, models: ModelStore):
        self.models = models
        self.engine = models.engine

    def save(self, equipment: Equipment, frame: pd.DataFrame, *, root_run_id: str, window: Mapping[str, Any]) -> dict:
        """Store `frame` for this run group (a second save of the same content only touches its time);
        returns its fingerprint."""
        payload, content = encode(frame, f"training data of equipment {equipment}")
        facts = fingerprint(equipment, content, len(frame), window)
        stamp = {"payload_sha256": integrity.sha256_hex(payload), "bytes": len(payload)}
        key = (d.c.EquipID == equipment.equip_id, d.c.Fingerprint == facts["id"], d.c.RunID == root_run_id)

        def transaction(conn: sa.Connection) -> dict:
            now = utcnow()
            touched = conn.execute(sa.update(d).where(*key).values(EntryDateTime=now)).rowcount
            if not touched:
                conn.execute(
                    sa.insert(d),
                    {
                        "EquipID": equipment.equip_id,
                        "Fingerprint": facts["id"],
                        "RunID": root_run_id,
                        "EntryDateTime": now,
                        "FingerprintJSON": to_json({**facts, **stamp}),
                        "DataBytes": payload,
                    },
                )
            return facts

        return self.models.in_transaction(transaction, f"saving the training data of equipment {equipment}")

    def load_from_run(self, equipment: Equipment, root_run_id: str) -> TrainingData | None:
        """The data set this run group saved last, or None."""
        query = (
            sa.select(d.c.FingerprintJSON, d.c.DataBytes)
            .where(d.c.EquipID == equipment.equip_id, d.c.RunID == root_run_id)
            .order_by(d.c.EntryDateTime.desc())
            .limit(1)
        )
        row = self._one(query, equipment)
        return None if row is None else TrainingData(self._verified(equipment, *row), _facts(row[0]))

    def load(self, equipment: Equipment, fingerprint_id: str, from_version: int | None = None) -> TrainingData:
        query = (
            sa.select(d.c.FingerprintJSON, d.c.DataBytes)
            .where(d.c.EquipID == equipment.equip_id, d.c.Fingerprint == fingerprint_id)
            .limit(1)
        )
        row = self._one(query, equipment)
        if row is None:
            raise VersionNotFoundError(
                f"training data {fingerprint_id[:12]} of equipment {equipment}"
                + (f" (recorded by version {from_version})" if from_version else "")
                + " is not in ModelTrainingData (pruned, or written elsewhere): run the whole training job"
            )
        return TrainingData(self._verified(equipment, *row), _facts(row[0]), from_version)

    def load_for_version(self, equipment: Equipment, version: int) -> TrainingData:
        """The data set a complete version's models were fitted on (its verified manifest says which)."""
        recorded = self.models.manifest(equipment, version).get("trained_on")
        if not recorded:
            raise VersionNotFoundError(
                f"version {version} of equipment {equipment} records no single training data set, so a rerun "
                "cannot refit against it: run the whole training job"
            )
        return self.load(equipment, recorded["id"], version)

    def _one(self, query: sa.Select, equipment: Equipment):
        with self.models.reading(f"reading the training data of equipment {equipment}") as conn:
            return conn.execute(query).one_or_none()

    def _verified(self, equipment: Equipment, facts_json: str, payload: bytes) -> pd.DataFrame:
        facts = json.loads(facts_json)
        actual = integrity.sha256_hex(payload)
        if actual != facts.get("payload_sha256"):
            raise IntegrityError(
                f"refusing training data {facts.get('id', '?')[:12]} of equipment {equipment}: sha256 mismatch "
                f"(stored {str(facts.get('payload_sha256'))[:12]}..., bytes hash to {actual[:12]}...)"
            )
        frame = decode(payload)
        if encode(frame, "")[1] != facts.get("sha256"):
            raise IntegrityError(
                f"refusing training data {facts.get('id', '?')[:12]} of equipment {equipment}: its content does "
                "not hash to its fingerprint"
            )
        return frame


def _facts(facts_json: str) -> dict:
    facts = json.loads(facts_json)
    facts.pop("payload_sha256", None)
    facts.pop("bytes", None)
    return facts
