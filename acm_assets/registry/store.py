"""Versioned, atomic model storage in `ModelRegistry`.

Commit mechanism: rows of a version in progress are plain model rows; a version becomes visible only when
its `manifest` row exists. The manifest is inserted in the same transaction as the last expected model
and the server-side copies of the types carried forward from the previous complete version, so readers
(which only consider versions having a manifest) never see a partial version. A version belongs to one
run group: its rows carry the Dagster *root* run id in `RunID`, so a retried step or a re-execution from
failure finds and completes the same version instead of starting a new one.

Every write runs under a per-equipment lock: SQLite `BEGIN IMMEDIATE` (from `acm_assets.database`),
PostgreSQL `pg_advisory_xact_lock(namespace, EquipID)`, SQL Server `WITH (UPDLOCK, HOLDLOCK)` on the
version allocation query; plus a bounded retry for lock timeouts and deadlocks.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import joblib
import sqlalchemy as sa

from acm_assets.registry import integrity
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.errors import (
    IntegrityError,
    ModelTypeError,
    RegistryError,
    SerializationError,
    VersionNotFoundError,
    describe_database_error,
)
from acm_assets.registry.schema import MODEL_TYPE_LENGTH, model_registry as t

MANIFEST = "manifest"
DEFAULT_KEEP_VERSIONS = 10
# First key of PostgreSQL's two-int advisory lock: keeps our per-equipment locks apart from other users'.
ADVISORY_LOCK_NAMESPACE = 0x41434D  # "ACM"
MAX_ATTEMPTS = 6
_LOCK_HINT = "WITH (UPDLOCK, HOLDLOCK)"
PICKLE_PROTOCOL = 5
PICKLE_FORMAT = "pickle5"
JOBLIB_FORMAT = "joblib"


@dataclass(frozen=True)
class TrainingInfo:
    """What a training asset reports about one model (from its output metadata)."""

    params: Mapping[str, Any] = field(default_factory=dict)
    train_rows: int | None = None
    train_sensors: list[str] | None = None
    config_signature: str | None = None


@dataclass(frozen=True)
class SaveResult:
    equipment: Equipment
    model_type: str
    version: int
    bytes: int
    sha256: str
    complete: bool
    missing: tuple[str, ...]
    carried_forward: Mapping[str, int]


@dataclass(frozen=True)
class LoadedModel:
    """A verified, unpickled model and where it came from; scoring assets report `version` in metadata."""

    value: Any
    equipment: Equipment
    model_type: str
    version: int
    params: Mapping[str, Any]
    stats: Mapping[str, Any]

    @property
    def sha256(self) -> str:
        return self.stats["sha256"]


@dataclass(frozen=True)
class VersionInfo:
    equip_id: int
    version: int
    complete: bool
    model_types: tuple[str, ...]
    entry_datetime: datetime | None
    run_id: str | None
    bytes: int


def validate_model_type(model_type: str, equipment: Equipment | str) -> None:
    if len(model_type) > MODEL_TYPE_LENGTH:
        raise ModelTypeError(
            f"model type {model_type!r} of equipment {equipment} has {len(model_type)} characters; "
            f"ModelRegistry.ModelType holds at most {MODEL_TYPE_LENGTH}"
        )
    if model_type == MANIFEST or not model_type:
        raise ModelTypeError(f"model type {model_type!r} of equipment {equipment} is reserved or empty")


def dumps(value: Any, equipment: Equipment, model_type: str) -> bytes:
    """Pickle protocol 5 with the C pickler: ~8x faster than joblib.dump's pure-Python pickler on
    scikit-learn models, and the bytes remain readable by joblib.load (exports are valid .joblib files)."""
    try:
        return pickle.dumps(value, protocol=PICKLE_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise SerializationError(
            f"cannot pickle model type {model_type} of equipment {equipment} (no version written): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def loads(payload: bytes, serializer: str | None) -> Any:
    """Bytes we pickled go through the C unpickler; imported joblib files need joblib.load."""
    if serializer == PICKLE_FORMAT:
        return pickle.loads(payload)
    return joblib.load(io.BytesIO(payload))


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ModelStore:
    """Versions of models per equipment in one `ModelRegistry` table."""

    def __init__(self, engine: sa.Engine, hmac_key: str | None = None):
        self.engine = engine
        self._hmac_key = hmac_key or None

    # ---------------------------------------------------------------- writing

    def save(
        self,
        equipment: Equipment,
        model_type: str,
        value: Any,
        *,
        run_id: str,
        root_run_id: str,
        expected_types: Collection[str],
        info: TrainingInfo = TrainingInfo(),
        keep_versions: int = DEFAULT_KEEP_VERSIONS,
    ) -> SaveResult:
        """Write one model into the run group's open version; commit the version once every expected type
        is in (carrying the rest forward); then apply retention in the same transaction."""
        validate_model_type(model_type, equipment)
        payload = dumps(value, equipment, model_type)
        row, stats = self._model_row(
            equipment, model_type, payload, info, format=PICKLE_FORMAT, run_id=run_id, root_run_id=root_run_id
        )
        expected = set(expected_types) | {model_type}

        def transaction(conn: sa.Connection) -> SaveResult:
            version = self._open_version(conn, equipment, root_run_id)
            conn.execute(
                sa.delete(t).where(
                    t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == model_type
                )
            )
            self._insert(conn, equipment, version, root_run_id, row)
            present = self._types_in(conn, equipment.equip_id, version)
            missing = tuple(sorted(expected - present))
            carried: dict[str, int] = {}
            if not missing:
                carried = self._commit(conn, equipment, version, root_run_id, source="dagster")
                self._apply_retention(conn, equipment.equip_id, keep_versions)
            return SaveResult(
                equipment, model_type, version, stats["bytes"], stats["sha256"], not missing, missing, carried
            )

        return self._in_transaction(transaction, f"saving model type {model_type} of equipment {equipment}")

    def import_version(
        self,
        equipment: Equipment,
        models: Mapping[str, tuple[bytes, TrainingInfo]],
        *,
        source: str,
        keep_versions: int = DEFAULT_KEEP_VERSIONS,
    ) -> int:
        """Store already-pickled models (joblib files) as one new complete version in one transaction.
        The bytes are kept as they are: importing never unpickles anything."""
        for model_type in models:
            validate_model_type(model_type, equipment)
        rows = [
            self._model_row(equipment, model_type, payload, info, format=JOBLIB_FORMAT)[0]
            for model_type, (payload, info) in sorted(models.items())
        ]

        def transaction(conn: sa.Connection) -> int:
            version = self._next_version(conn, equipment.equip_id)
            for row in rows:
                self._insert(conn, equipment, version, None, row)
            self._commit(conn, equipment, version, None, source=source)
            self._apply_retention(conn, equipment.equip_id, keep_versions)
            return version

        return self._in_transaction(transaction, f"importing a version of equipment {equipment}")

    def _model_row(
        self, equipment: Equipment, model_type: str, payload: bytes, info: TrainingInfo, **provenance: str
    ) -> tuple[dict, dict]:
        """The row to insert for one pickled model, and its StatsJSON content."""
        stats = {
            "sha256": integrity.sha256_hex(payload),
            "bytes": len(payload),
            **provenance,
            "train_rows": info.train_rows,
            "train_sensors": info.train_sensors,
            "config_signature": info.config_signature,
        }
        if self._hmac_key:
            stats["hmac"] = integrity.sign(self._hmac_key, equipment.equip_id, model_type, stats["sha256"])
        row = {
            "ModelType": model_type,
            "ParamsJSON": to_json(dict(info.params)),
            "StatsJSON": to_json(stats),
            "ModelBytes": payload,
        }
        return row, stats

    def _in_transaction(self, work, what: str):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except sa.exc.DBAPIError as exc:
                if attempt == MAX_ATTEMPTS or not is_transient(exc):
                    raise RegistryError(f"{what}: {describe_database_error(exc, self.engine.url)}") from None
                time.sleep(0.05 * 2**attempt * (1 + random.random()))
        raise AssertionError("unreachable")

    def _lock(self, conn: sa.Connection, equip_id: int) -> int:
        """Serialise writers of one equipment; returns the highest version number in use."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_NAMESPACE, equip_id)))
        return conn.execute(max_version_statement(equip_id)).scalar() or 0

    def _next_version(self, conn: sa.Connection, equip_id: int) -> int:
        return self._lock(conn, equip_id) + 1

    def _open_version(self, conn: sa.Connection, equipment: Equipment, root_run_id: str) -> int:
        """The run group's unfinished version, else a new one (a finished group starts a new version)."""
        highest = self._lock(conn, equipment.equip_id)
        own = conn.execute(
            sa.select(t.c.Version, t.c.ModelType).where(
                t.c.EquipID == equipment.equip_id, t.c.RunID == root_run_id
            )
        ).all()
        if own:
            newest = max(version for version, _ in own)
            if not any(version == newest and model_type == MANIFEST for version, model_type in own):
                return newest
        return highest + 1

    def _insert(self, conn: sa.Connection, equipment: Equipment, version: int, run_id: str | None, row: dict) -> None:
        # One row per INSERT: pyodbc's fast_executemany corrupts large binary parameters.
        conn.execute(
            sa.insert(t),
            {**row, "EquipID": equipment.equip_id, "Version": version, "EntryDateTime": _utcnow(), "RunID": run_id},
        )

    def _types_in(self, conn: sa.Connection, equip_id: int, version: int) -> set[str]:
        rows = conn.execute(
            sa.select(t.c.ModelType).where(t.c.EquipID == equip_id, t.c.Version == version, t.c.ModelType != MANIFEST)
        )
        return set(rows.scalars())

    def _commit(
        self, conn: sa.Connection, equipment: Equipment, version: int, run_id: str | None, *, source: str
    ) -> dict[str, int]:
        """Carry forward what the previous complete version has and this one lacks; write the manifest."""
        present = self._types_in(conn, equipment.equip_id, version)
        base = conn.execute(
            sa.select(sa.func.max(t.c.Version)).where(
                t.c.EquipID == equipment.equip_id, t.c.ModelType == MANIFEST, t.c.Version < version
            )
        ).scalar()
        carried: dict[str, int] = {}
        if base is not None:
            for model_type in sorted(self._types_in(conn, equipment.equip_id, base) - present):
                conn.execute(carry_forward_statement(equipment.equip_id, base, version, model_type, run_id, _utcnow()))
                carried[model_type] = base
        models = {
            model_type: {"params": json.loads(params or "{}"), **json.loads(stats or "{}")}
            for model_type, params, stats in conn.execute(
                sa.select(t.c.ModelType, t.c.ParamsJSON, t.c.StatsJSON).where(
                    t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType != MANIFEST
                )
            )
        }
        for model_type, entry in models.items():
            entry.pop("hmac", None)
            entry["carried_from"] = carried.get(model_type)
        trained = [entry for model_type, entry in models.items() if model_type not in carried]
        manifest = {
            "version": version,
            "source": source,
            "equip": equipment.code,
            "equip_id": equipment.equip_id,
            "run_id": run_id,
            "saved_models": sorted(models),
            "trained_models": sorted(set(models) - set(carried)),
            "carried_forward": carried,
            "base_version": base,
            "models": models,
            "train_rows": _common(entry.get("train_rows") for entry in trained),
            "train_sensors": _common(entry.get("train_sensors") for entry in trained),
            "config_signature": _common(entry.get("config_signature") for entry in trained),
            "created_at": _utcnow().isoformat() + "Z",
        }
        text = to_json(manifest)
        payload = text.encode()
        stats = {"sha256": integrity.sha256_hex(payload), "bytes": len(payload)}
        if self._hmac_key:
            stats["hmac"] = integrity.sign(self._hmac_key, equipment.equip_id, MANIFEST, stats["sha256"])
        self._insert(
            conn,
            equipment,
            version,
            run_id,
            {"ModelType": MANIFEST, "ParamsJSON": text, "StatsJSON": to_json(stats), "ModelBytes": payload},
        )
        return carried

    # ---------------------------------------------------------------- reading

    def latest_version(self, equipment: Equipment) -> int:
        """The newest complete version of an equipment (error when there is none)."""
        with self._reading(f"finding the latest version of equipment {equipment}") as conn:
            return self._complete_version(conn, equipment, None)

    def load(self, equipment: Equipment, model_type: str, version: int | None = None) -> LoadedModel:
        """One verified model of the latest complete version, or of `version` (which must be complete)."""
        return self.load_version(equipment, [model_type], version)[model_type]

    def load_version(
        self, equipment: Equipment, model_types: Iterable[str] | None = None, version: int | None = None
    ) -> dict[str, LoadedModel]:
        """Several verified models of one complete version (all of them when `model_types` is None)."""
        wanted = None if model_types is None else sorted(set(model_types))
        with self._reading(f"loading models of equipment {equipment}") as conn:
            version = self._complete_version(conn, equipment, version)
            query = sa.select(t.c.ModelType, t.c.ModelBytes, t.c.ParamsJSON, t.c.StatsJSON).where(
                t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType != MANIFEST
            )
            if wanted is not None:
                query = query.where(t.c.ModelType.in_(wanted))
            rows = {row.ModelType: row for row in conn.execute(query)}
        lacking = [model_type for model_type in wanted or [] if model_type not in rows]
        if lacking:
            raise VersionNotFoundError(
                f"version {version} of equipment {equipment} has no model type {', '.join(lacking)} "
                f"(it holds {', '.join(sorted(self.manifest(equipment, version)['saved_models']))})"
            )
        return {
            model_type: self._verified(equipment, version, model_type, row.ModelBytes, row.ParamsJSON, row.StatsJSON)
            for model_type, row in sorted(rows.items())
        }

    def load_from_run(self, equipment: Equipment, model_type: str, root_run_id: str) -> LoadedModel | None:
        """The run group's own row of a type, complete or not (a training run reads what it wrote
        upstream); None when the run group has not written that type."""
        with self._reading(f"loading model type {model_type} of equipment {equipment}") as conn:
            row = conn.execute(
                sa.select(t.c.Version, t.c.ModelBytes, t.c.ParamsJSON, t.c.StatsJSON)
                .where(t.c.EquipID == equipment.equip_id, t.c.RunID == root_run_id, t.c.ModelType == model_type)
                .order_by(t.c.Version.desc())
                .limit(1)
            ).one_or_none()
        if row is None:
            return None
        return self._verified(equipment, row.Version, model_type, row.ModelBytes, row.ParamsJSON, row.StatsJSON)

    def load_bytes(self, equipment: Equipment, model_type: str, version: int) -> bytes:
        """The verified stored bytes of one row, not unpickled (export)."""
        with self._reading(f"reading model type {model_type} of equipment {equipment}") as conn:
            row = conn.execute(
                sa.select(t.c.ModelBytes, t.c.StatsJSON).where(
                    t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == model_type
                )
            ).one_or_none()
        if row is None:
            raise VersionNotFoundError(f"version {version} of equipment {equipment} has no model type {model_type}")
        self._check(equipment, version, model_type, row.ModelBytes, json.loads(row.StatsJSON or "{}"))
        return row.ModelBytes

    def manifest(self, equipment: Equipment, version: int | None = None) -> dict:
        """The verified manifest of a complete version (latest when None)."""
        with self._reading(f"reading the manifest of equipment {equipment}") as conn:
            version = self._complete_version(conn, equipment, version)
            row = conn.execute(
                sa.select(t.c.ModelBytes, t.c.StatsJSON).where(
                    t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == MANIFEST
                )
            ).one()
        self._check(equipment, version, MANIFEST, row.ModelBytes, json.loads(row.StatsJSON or "{}"))
        return json.loads(row.ModelBytes)

    def versions(self, equip_id: int | None = None) -> list[VersionInfo]:
        """Every version (complete or not), newest first per equipment; no blob is read."""
        query = sa.select(t.c.EquipID, t.c.Version, t.c.ModelType, t.c.EntryDateTime, t.c.RunID, t.c.StatsJSON)
        if equip_id is not None:
            query = query.where(t.c.EquipID == equip_id)
        with self._reading("listing versions") as conn:
            rows = conn.execute(query).all()
        grouped: dict[tuple[int, int], list] = {}
        for row in rows:
            grouped.setdefault((row.EquipID, row.Version), []).append(row)
        infos = []
        for (equip, version), members in grouped.items():
            types = tuple(sorted(row.ModelType for row in members if row.ModelType != MANIFEST))
            infos.append(
                VersionInfo(
                    equip_id=equip,
                    version=version,
                    complete=any(row.ModelType == MANIFEST for row in members),
                    model_types=types,
                    entry_datetime=max((row.EntryDateTime for row in members if row.EntryDateTime), default=None),
                    run_id=members[0].RunID,
                    bytes=sum(json.loads(row.StatsJSON or "{}").get("bytes", 0) for row in members),
                )
            )
        return sorted(infos, key=lambda info: (info.equip_id, -info.version))

    def _reading(self, what: str):
        return _Reading(self.engine, what)

    def _complete_version(self, conn: sa.Connection, equipment: Equipment, version: int | None) -> int:
        if version is None:
            latest = conn.execute(
                sa.select(sa.func.max(t.c.Version)).where(
                    t.c.EquipID == equipment.equip_id, t.c.ModelType == MANIFEST
                )
            ).scalar()
            if latest is None:
                raise VersionNotFoundError(f"equipment {equipment} has no complete model version in ModelRegistry")
            return latest
        types = set(
            conn.execute(
                sa.select(t.c.ModelType).where(t.c.EquipID == equipment.equip_id, t.c.Version == version)
            ).scalars()
        )
        if not types:
            raise VersionNotFoundError(f"version {version} of equipment {equipment} does not exist (pruned or never written)")
        if MANIFEST not in types:
            raise VersionNotFoundError(f"version {version} of equipment {equipment} is incomplete (no manifest): refused")
        return version

    def _check(self, equipment: Equipment, version: int, model_type: str, payload: bytes | None, stats: dict) -> None:
        reason = integrity.problem(payload, stats, self._hmac_key, equipment.equip_id, model_type)
        if reason:
            raise IntegrityError(
                f"refusing model type {model_type} of equipment {equipment} version {version}: {reason}"
            )

    def _verified(
        self, equipment: Equipment, version: int, model_type: str, payload: bytes | None, params: str | None, stats: str | None
    ) -> LoadedModel:
        parsed_stats = json.loads(stats or "{}")
        self._check(equipment, version, model_type, payload, parsed_stats)
        try:
            value = loads(payload, parsed_stats.get("format"))
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is reported with its identity
            raise IntegrityError(
                f"cannot unpickle model type {model_type} of equipment {equipment} version {version}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return LoadedModel(value, equipment, model_type, version, json.loads(params or "{}"), parsed_stats)

    # ---------------------------------------------------------------- retention

    def prune(
        self,
        *,
        keep: int = DEFAULT_KEEP_VERSIONS,
        stale_after: timedelta = timedelta(hours=24),
        equip_id: int | None = None,
    ) -> list[tuple[int, int, str]]:
        """Delete complete versions beyond the newest `keep` and partial versions idle longer than
        `stale_after`; returns (EquipID, Version, reason) for each deleted version."""
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        equip_ids = [equip_id] if equip_id is not None else self._equip_ids()
        removed: list[tuple[int, int, str]] = []
        for equip in equip_ids:

            def transaction(conn: sa.Connection, equip=equip) -> list[tuple[int, int, str]]:
                self._lock(conn, equip)
                done = self._apply_retention(conn, equip, keep)
                cutoff = _utcnow() - stale_after
                rows = conn.execute(
                    sa.select(t.c.Version, sa.func.max(t.c.EntryDateTime), sa.func.count())
                    .where(t.c.EquipID == equip)
                    .group_by(t.c.Version)
                ).all()
                complete = self._complete_versions(conn, equip)
                stale = [version for version, newest, _ in rows if version not in complete and newest < cutoff]
                self._delete_versions(conn, equip, stale)
                return done + [(equip, version, "stale partial") for version in stale]

            removed += self._in_transaction(transaction, f"pruning EquipID {equip}")
        return removed

    def _equip_ids(self) -> list[int]:
        with self._reading("listing equipment") as conn:
            return list(conn.execute(sa.select(t.c.EquipID).distinct().order_by(t.c.EquipID)).scalars())

    def _complete_versions(self, conn: sa.Connection, equip_id: int) -> list[int]:
        return list(
            conn.execute(
                sa.select(t.c.Version)
                .where(t.c.EquipID == equip_id, t.c.ModelType == MANIFEST)
                .order_by(t.c.Version.desc())
            ).scalars()
        )

    def _apply_retention(self, conn: sa.Connection, equip_id: int, keep: int) -> list[tuple[int, int, str]]:
        old = self._complete_versions(conn, equip_id)[keep:]
        self._delete_versions(conn, equip_id, old)
        return [(equip_id, version, f"beyond newest {keep}") for version in old]

    def _delete_versions(self, conn: sa.Connection, equip_id: int, versions: list[int]) -> None:
        if versions:
            conn.execute(sa.delete(t).where(t.c.EquipID == equip_id, t.c.Version.in_(versions)))


class _Reading:
    """A read transaction whose driver failures become RegistryErrors with the password masked."""

    def __init__(self, engine: sa.Engine, what: str):
        self._engine = engine
        self._what = what
        self._conn: sa.Connection | None = None

    def __enter__(self) -> sa.Connection:
        try:
            self._conn = self._engine.connect()
        except sa.exc.DBAPIError as exc:
            raise RegistryError(f"{self._what}: {describe_database_error(exc, self._engine.url)}") from None
        return self._conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._conn is not None
        self._conn.close()
        if isinstance(exc, sa.exc.DBAPIError):
            raise RegistryError(f"{self._what}: {describe_database_error(exc, self._engine.url)}") from None
        return False


def is_transient(exc: sa.exc.DBAPIError) -> bool:
    """Worth retrying the whole transaction: lock timeouts ("database is locked"), deadlock victims,
    serialization failures, a key raced in. pyodbc reports SQL Server deadlocks (40001) and lock
    timeouts (HYT00) as its generic Error, so the SQLSTATE decides there."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.IntegrityError)):
        return True
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in ("40001", "HYT00")


def max_version_statement(equip_id: int) -> sa.Select:
    """The version allocation query; on SQL Server its hints hold the equipment's key range until commit."""
    return (
        sa.select(sa.func.max(t.c.Version))
        .with_hint(t, _LOCK_HINT, dialect_name="mssql")
        .where(t.c.EquipID == equip_id)
    )


def carry_forward_statement(
    equip_id: int, base: int, version: int, model_type: str, run_id: str | None, now: datetime
) -> sa.Insert:
    """Copy one model row from `base` into `version` inside the server (the blob never leaves it)."""
    source = sa.select(
        t.c.ModelType,
        t.c.EquipID,
        sa.literal(version, sa.Integer).label("Version"),
        sa.literal(now, t.c.EntryDateTime.type).label("EntryDateTime"),
        t.c.ParamsJSON,
        t.c.StatsJSON,
        sa.literal(run_id, t.c.RunID.type).label("RunID"),
        t.c.ModelBytes,
    ).where(t.c.EquipID == equip_id, t.c.Version == base, t.c.ModelType == model_type)
    return sa.insert(t).from_select(
        ["ModelType", "EquipID", "Version", "EntryDateTime", "ParamsJSON", "StatsJSON", "RunID", "ModelBytes"], source
    )


def _common(values: Iterable[Any]) -> Any:
    """The single value the trained models agree on, else None (the per-model entries keep theirs)."""
    distinct = {to_json(value) for value in values}
    return json.loads(distinct.pop()) if len(distinct) == 1 else None
