"""Versioned, atomic model storage in `ModelRegistry`.

Commit mechanism: rows of a version in progress are plain model rows; a version becomes visible only when
its `manifest` row exists. The manifest is inserted in the same transaction as the last expected model
and the server-side copies of the types carried forward from the version the run loaded its upstream
models from (its base), so readers (which only consider versions having a manifest) never see a partial
version. A version belongs to one run group: its rows carry the Dagster *root* run id in `RunID`, so a
retried step or a re-execution from failure finds and completes the same version instead of a new one.

A version is one consistent set: each model records the training data it was fitted on (`trained_on`, an
opaque fingerprint with an `id`) and the SHA-256 of every upstream model it used; a commit whose models
disagree is refused. "Latest" is commit order: the manifest's EntryDateTime, kept increasing per
equipment under the lock whatever the writers' clocks say.

Every write runs under a per-equipment lock: SQLite `BEGIN IMMEDIATE` (from `acm_assets.database`),
PostgreSQL `pg_advisory_xact_lock(namespace, EquipID)`, SQL Server `WITH (UPDLOCK, HOLDLOCK)` on the
version allocation query; plus a bounded retry for lock timeouts, deadlocks and key races.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import joblib
import sqlalchemy as sa

from acm_assets.database import READ_ONLY, DatabaseConnectionError
from acm_assets.registry import integrity
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.errors import (
    InconsistentVersionError,
    IntegrityError,
    ModelTypeError,
    RegistryError,
    SerializationError,
    SupersededBaseError,
    VersionNotFoundError,
    describe_database_error,
)
from acm_assets.registry.schema import MODEL_TYPE_LENGTH, model_registry as t, training_data as d

MANIFEST = "manifest"
DEFAULT_KEEP_VERSIONS = 10
# A failed run's partial version stays this long, so "re-execute from failure" can still complete it.
DEFAULT_STALE_AFTER = timedelta(hours=24)
# A pending version whose run cannot be asked about is presumed alive this long after its newest row.
LEASE = timedelta(hours=12)
# First key of PostgreSQL's two-int advisory lock: keeps our per-equipment locks apart from other users'.
ADVISORY_LOCK_NAMESPACE = 0x41434D  # "ACM"
MAX_ATTEMPTS = 6
_LOCK_HINT = "WITH (UPDLOCK, HOLDLOCK)"
PICKLE_PROTOCOL = 5
PICKLE_FORMAT = "pickle5"
JOBLIB_FORMAT = "joblib"

# Root run id -> True (a run of the group is in progress), False (all finished, or unknown to the
# instance) or None (cannot tell: the lease decides).
RunLiveness = Callable[[str], "bool | None"]


@dataclass(frozen=True)
class TrainingInfo:
    """What a training asset reports about one model (from its output metadata), and its lineage:
    `trained_on` is the fingerprint of the training data, `upstream` {model type: {version, sha256}}."""

    params: Mapping[str, Any] = field(default_factory=dict)
    train_rows: int | None = None
    train_sensors: list[str] | None = None
    config_signature: str | None = None
    trained_on: Mapping[str, Any] | None = None
    upstream: Mapping[str, Mapping[str, Any]] | None = None


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
class Resolved:
    """The version a run uses, and the newer complete versions passed over (with why)."""

    version: int
    skipped: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class VersionInfo:
    equip_id: int
    version: int
    complete: bool
    model_types: tuple[str, ...]
    entry_datetime: datetime | None
    run_id: str | None
    bytes: int
    consistent: bool = False


class Removed(NamedTuple):
    """One thing prune or retention deleted: a version, or (version None) a training data set."""

    equip_id: int
    version: int | None
    reason: str


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


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ModelStore:
    """Versions of models per equipment in one `ModelRegistry` table."""

    def __init__(self, engine: sa.Engine, hmac_key: str | None = None):
        self.engine = engine
        self._hmac_key = hmac_key or None

    @property
    def signed(self) -> bool:
        return self._hmac_key is not None

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
        base_version: int | None = None,
        keep_versions: int = DEFAULT_KEEP_VERSIONS,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        liveness: RunLiveness | None = None,
    ) -> SaveResult:
        """Write one model into the run group's open version; commit the version once every expected type
        is in (carrying the rest forward from `base_version`, the version the run loaded its upstream
        models from, else the latest); then apply retention in the same transaction."""
        validate_model_type(model_type, equipment)
        payload = dumps(value, equipment, model_type)
        row, stats = self._model_row(
            equipment, model_type, payload, info, format=PICKLE_FORMAT, run_id=run_id, base_version=base_version
        )
        expected = set(expected_types) | {model_type}

        def transaction(conn: sa.Connection) -> SaveResult:
            version = self._open_version(conn, equipment, root_run_id)
            landed = self._landed(conn, equipment, root_run_id, model_type, stats["sha256"], version)
            if landed is not None:
                return landed
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
                self._apply_retention(conn, equipment.equip_id, keep_versions, stale_after, liveness, version)
            return SaveResult(
                equipment, model_type, version, stats["bytes"], stats["sha256"], not missing, missing, carried
            )

        return self.in_transaction(transaction, f"saving model type {model_type} of equipment {equipment}")

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
            self._apply_retention(conn, equipment.equip_id, keep_versions, DEFAULT_STALE_AFTER, None, version)
            return version

        return self.in_transaction(transaction, f"importing a version of equipment {equipment}")

    def _model_row(
        self, equipment: Equipment, model_type: str, payload: bytes, info: TrainingInfo, **provenance: Any
    ) -> tuple[dict, dict]:
        """The row to insert for one pickled model, and its StatsJSON content."""
        stats = {
            "sha256": integrity.sha256_hex(payload),
            "bytes": len(payload),
            **{key: value for key, value in provenance.items() if value is not None},
            "train_rows": info.train_rows,
            "train_sensors": info.train_sensors,
            "config_signature": info.config_signature,
            "trained_on": None if info.trained_on is None else dict(info.trained_on),
            "upstream": {key: dict(value) for key, value in (info.upstream or {}).items()},
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

    def in_transaction(self, work, what: str):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except DatabaseConnectionError:
                if attempt == MAX_ATTEMPTS:  # a dropped connection (a server restart) is worth another try
                    raise
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

    def _landed(
        self, conn: sa.Connection, equipment: Equipment, root_run_id: str, model_type: str, sha256: str, opened: int
    ) -> SaveResult | None:
        """The run group's committed version when it already holds these exact bytes: a step whose model was
        stored but whose run failed after that (the event log lost its connection), re-executed, must not
        start a version of its own. Fitting is deterministic, so the re-executed step writes the same bytes."""
        own = t.c.EquipID == equipment.equip_id, t.c.RunID == root_run_id
        if conn.execute(sa.select(t.c.Version).where(*own, t.c.Version == opened).limit(1)).first():
            return None  # the group's version is still open: write into it
        row = conn.execute(
            sa.select(t.c.Version, t.c.ModelBytes, t.c.StatsJSON)
            .where(*own, t.c.ModelType == MANIFEST)
            .order_by(t.c.Version.desc())
            .limit(1)
        ).one_or_none()
        if row is None:
            return None
        committed = row.Version
        manifest = self._verified_manifest(equipment, committed, row.ModelBytes, row.StatsJSON)
        entry = manifest["models"].get(model_type)
        if entry is None or entry.get("sha256") != sha256 or entry.get("carried_from") is not None:
            return None
        carried = {carried_type: int(base) for carried_type, base in manifest["carried_forward"].items()}
        return SaveResult(equipment, model_type, committed, int(entry["bytes"]), sha256, True, (), carried)

    def _insert(
        self, conn: sa.Connection, equipment: Equipment, version: int, run_id: str | None, row: dict,
        now: datetime | None = None,
    ) -> None:
        # One row per INSERT: pyodbc's fast_executemany corrupts large binary parameters.
        conn.execute(
            sa.insert(t),
            {**row, "EquipID": equipment.equip_id, "Version": version, "EntryDateTime": now or utcnow(), "RunID": run_id},
        )

    def _types_in(self, conn: sa.Connection, equip_id: int, version: int) -> set[str]:
        rows = conn.execute(
            sa.select(t.c.ModelType).where(t.c.EquipID == equip_id, t.c.Version == version, t.c.ModelType != MANIFEST)
        )
        return set(rows.scalars())

    def _entries(self, conn: sa.Connection, equipment: Equipment, version: int) -> dict[str, dict]:
        """Each model row's params and stats (no blob)."""
        return {
            model_type: {
                "params": row_json(params, equipment, version, model_type, "ParamsJSON"),
                **row_json(stats, equipment, version, model_type, "StatsJSON"),
            }
            for model_type, params, stats in conn.execute(
                sa.select(t.c.ModelType, t.c.ParamsJSON, t.c.StatsJSON).where(
                    t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType != MANIFEST
                )
            )
        }

    def _commit(
        self, conn: sa.Connection, equipment: Equipment, version: int, run_id: str | None, *, source: str
    ) -> dict[str, int]:
        """Carry forward what the base version has and this one lacks, check the set is consistent, and
        write the manifest with the next commit time."""
        trained = self._entries(conn, equipment, version)
        committed = self._by_commit(conn, equipment.equip_id)
        base = self._carry_base(equipment, version, trained, committed)
        carried: dict[str, int] = {}
        if base is not None:
            for model_type in sorted(self._types_in(conn, equipment.equip_id, base) - set(trained)):
                conn.execute(carry_forward_statement(equipment.equip_id, base, version, model_type, run_id, utcnow()))
                carried[model_type] = base
        # A carried row is a copy: its entry is read where it lives, so damage is named in the version it came from.
        base_entries = self._entries(conn, equipment, base) if carried else {}
        models = {**trained, **{model_type: base_entries[model_type] for model_type in carried}}
        for model_type, entry in models.items():
            entry.pop("hmac", None)
            entry["carried_from"] = carried.get(model_type)
        check_consistency(equipment, version, models)
        # Commit order: now, or just after the last commit when this writer's clock is behind.
        now = utcnow()
        last = committed[0][2] if committed else None
        committed_at = now if last is None or now > last else last + timedelta(microseconds=1)
        trained_entries = [entry for model_type, entry in models.items() if model_type not in carried]
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
            "train_rows": _common(entry.get("train_rows") for entry in trained_entries),
            "train_sensors": _common(entry.get("train_sensors") for entry in trained_entries),
            "config_signature": _common(entry.get("config_signature") for entry in trained_entries),
            "trained_on": _common(entry.get("trained_on") for entry in models.values()),
            "consistent": True,
            "created_at": committed_at.isoformat() + "Z",
        }
        text = to_json(manifest)
        payload = text.encode()
        stats = {"sha256": integrity.sha256_hex(payload), "bytes": len(payload), "consistent": True}
        if self._hmac_key:
            stats["hmac"] = integrity.sign_manifest(self._hmac_key, equipment.equip_id, version, stats["sha256"])
        self._insert(
            conn,
            equipment,
            version,
            run_id,
            {"ModelType": MANIFEST, "ParamsJSON": text, "StatsJSON": to_json(stats), "ModelBytes": payload},
            now=committed_at,
        )
        return carried

    def _carry_base(
        self, equipment: Equipment, version: int, trained: dict, committed: list[tuple[int, bool, datetime]]
    ) -> int | None:
        """The version the run's models were fitted against (recorded when it loaded upstream models), else
        the latest consistent one (an older-format one only so the consistency check can name it); None
        when nothing exists yet."""
        bases = {entry["base_version"] for entry in trained.values() if entry.get("base_version") is not None}
        if len(bases) > 1:
            detail = ", ".join(
                f"{model_type} against v{entry['base_version']}"
                for model_type, entry in sorted(trained.items())
                if entry.get("base_version") is not None
            )
            raise InconsistentVersionError(
                f"refusing to commit version {version} of equipment {equipment}: its models were fitted against "
                f"different versions ({detail}), because one committed while this run ran; rerun them together"
            )
        latest = next((v for v, consistent, _ in committed if consistent), None)
        if bases:
            (base,) = bases
            if base not in {v for v, _, _ in committed}:
                raise VersionNotFoundError(
                    f"refusing to commit version {version} of equipment {equipment}: the models were fitted "
                    f"against version {base}, which no longer exists; rerun them"
                )
            if latest is not None and base != latest:
                raise SupersededBaseError(equipment, version, base, latest, sorted(trained))
            return base
        return latest if latest is not None else committed[0][0] if committed else None

    # ---------------------------------------------------------------- reading

    def latest_version(self, equipment: Equipment) -> int:
        """The most recently committed consistent version of an equipment (error when there is none)."""
        return self.resolve(equipment).version

    def servable_equipment_ids(self) -> set[int]:
        """Equipment with a consistent complete version, in one query: a sensor tick over a fleet asks this
        rather than resolving every equipment."""
        with self.reading("listing equipment with a consistent complete model version") as conn:
            rows = conn.execute(sa.select(t.c.EquipID, t.c.Version, t.c.StatsJSON).where(t.c.ModelType == MANIFEST))
            return {
                equip_id for equip_id, version, stats in rows
                if row_json(stats, f"EquipID {equip_id}", version, MANIFEST, "StatsJSON").get("consistent")
            }

    def resolve(self, equipment: Equipment) -> Resolved:
        """The most recently committed consistent version, and the newer ones that were passed over."""
        with self.reading(f"finding the latest version of equipment {equipment}") as conn:
            return self._servable(conn, equipment)

    def base_version(self, equipment: Equipment, root_run_id: str) -> Resolved:
        """The version a run group trains against: the one its pending version already recorded, else the
        latest consistent one."""
        with self.reading(f"finding the base version of equipment {equipment}") as conn:
            own = conn.execute(
                sa.select(t.c.Version, t.c.ModelType, t.c.StatsJSON).where(
                    t.c.EquipID == equipment.equip_id, t.c.RunID == root_run_id
                )
            ).all()
            pending = max((row.Version for row in own), default=None)
            rows = [row for row in own if row.Version == pending]
            if not any(row.ModelType == MANIFEST for row in rows):
                known = {
                    row_json(row.StatsJSON, equipment, row.Version, row.ModelType, "StatsJSON").get("base_version")
                    for row in rows
                } - {None}
                if known:
                    return Resolved(max(known))
            return self._servable(conn, equipment)

    def _by_commit(self, conn: sa.Connection, equip_id: int) -> list[tuple[int, bool, datetime]]:
        """(version, consistent, commit time) of every complete version, newest commit first."""
        rows = conn.execute(
            sa.select(t.c.Version, t.c.StatsJSON, t.c.EntryDateTime)
            .where(t.c.EquipID == equip_id, t.c.ModelType == MANIFEST)
            .order_by(t.c.EntryDateTime.desc(), t.c.Version.desc())
        )
        return [
            (version, bool(row_json(stats, f"EquipID {equip_id}", version, MANIFEST, "StatsJSON").get("consistent")),
             at)
            for version, stats, at in rows
        ]

    def _servable(self, conn: sa.Connection, equipment: Equipment) -> Resolved:
        """The newest commit whose manifest records a consistency check; newer ones are passed over."""
        skipped = []
        for version, consistent, _ in self._by_commit(conn, equipment.equip_id):
            if consistent:
                return Resolved(version, tuple(skipped))
            skipped.append((version, "written before versions recorded what their models were fitted on"))
        if skipped:
            listed = ", ".join(f"v{version}" for version, _ in skipped)
            raise VersionNotFoundError(
                f"equipment {equipment} has no consistent complete model version: {listed} were written before "
                "versions recorded what their models were fitted on; run the training job once"
            )
        raise VersionNotFoundError(f"equipment {equipment} has no complete model version in ModelRegistry")

    def load(self, equipment: Equipment, model_type: str, version: int | None = None) -> LoadedModel:
        """One verified model of the latest consistent version, or of `version` (which must be complete)."""
        return self.load_version(equipment, [model_type], version)[model_type]

    def load_version(
        self, equipment: Equipment, model_types: Iterable[str] | None = None, version: int | None = None
    ) -> dict[str, LoadedModel]:
        """Several verified models of one complete version (all of them when `model_types` is None): each
        row must match the SHA-256 its version's (signed) manifest lists for it."""
        wanted = None if model_types is None else sorted(set(model_types))
        with self.reading(f"loading models of equipment {equipment}") as conn:
            version = self._complete_version(conn, equipment, version)
            query = sa.select(t.c.ModelType, t.c.ModelBytes, t.c.ParamsJSON, t.c.StatsJSON).where(
                t.c.EquipID == equipment.equip_id, t.c.Version == version
            )
            if wanted is not None:
                query = query.where(t.c.ModelType.in_([*wanted, MANIFEST]))
            rows = {row.ModelType: row for row in conn.execute(query)}
        manifest_row = rows.pop(MANIFEST)
        manifest = self._verified_manifest(equipment, version, manifest_row.ModelBytes, manifest_row.StatsJSON)
        lacking = [model_type for model_type in wanted or [] if model_type not in rows]
        if lacking:
            raise VersionNotFoundError(
                f"version {version} of equipment {equipment} has no model type {', '.join(lacking)} "
                f"(it holds {', '.join(manifest['saved_models'])})"
            )
        return {
            model_type: self._verified(
                equipment, version, model_type, row.ModelBytes, row.ParamsJSON, row.StatsJSON, manifest
            )
            for model_type, row in sorted(rows.items())
        }

    def load_from_run(self, equipment: Equipment, model_type: str, root_run_id: str) -> LoadedModel | None:
        """The run group's own row of a type, complete or not (a training run reads what it wrote
        upstream); None when the run group has not written that type."""
        with self.reading(f"loading model type {model_type} of equipment {equipment}") as conn:
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
        """The verified stored bytes of one row of a complete version, not unpickled (export)."""
        with self.reading(f"reading model type {model_type} of equipment {equipment}") as conn:
            version = self._complete_version(conn, equipment, version)
            rows = {
                row.ModelType: row
                for row in conn.execute(
                    sa.select(t.c.ModelType, t.c.ModelBytes, t.c.StatsJSON).where(
                        t.c.EquipID == equipment.equip_id,
                        t.c.Version == version,
                        t.c.ModelType.in_([model_type, MANIFEST]),
                    )
                )
            }
        if model_type not in rows:
            raise VersionNotFoundError(f"version {version} of equipment {equipment} has no model type {model_type}")
        manifest = self._verified_manifest(equipment, version, rows[MANIFEST].ModelBytes, rows[MANIFEST].StatsJSON)
        row = rows[model_type]
        stats = row_json(row.StatsJSON, equipment, version, model_type, "StatsJSON")
        self._check(equipment, version, model_type, row.ModelBytes, stats, manifest)
        return row.ModelBytes

    def manifest(self, equipment: Equipment, version: int | None = None) -> dict:
        """The verified manifest of a complete version (latest consistent when None)."""
        with self.reading(f"reading the manifest of equipment {equipment}") as conn:
            version = self._complete_version(conn, equipment, version)
            row = conn.execute(
                sa.select(t.c.ModelBytes, t.c.StatsJSON).where(
                    t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == MANIFEST
                )
            ).one()
        return self._verified_manifest(equipment, version, row.ModelBytes, row.StatsJSON)

    def versions(self, equip_id: int | None = None) -> list[VersionInfo]:
        """Every version (complete or not), newest commit first per equipment (partial ones by their newest
        row); no blob is read."""
        query = sa.select(t.c.EquipID, t.c.Version, t.c.ModelType, t.c.EntryDateTime, t.c.RunID, t.c.StatsJSON)
        if equip_id is not None:
            query = query.where(t.c.EquipID == equip_id)
        with self.reading("listing versions") as conn:
            rows = conn.execute(query).all()
        grouped: dict[tuple[int, int], list] = {}
        for row in rows:
            grouped.setdefault((row.EquipID, row.Version), []).append(row)
        infos = []
        for (equip, version), members in grouped.items():
            types = tuple(sorted(row.ModelType for row in members if row.ModelType != MANIFEST))
            manifest = [row for row in members if row.ModelType == MANIFEST]
            stamps = [row.EntryDateTime for row in (manifest or members) if row.EntryDateTime]
            infos.append(
                VersionInfo(
                    equip_id=equip,
                    version=version,
                    complete=bool(manifest),
                    model_types=types,
                    entry_datetime=max(stamps, default=None),
                    run_id=members[0].RunID,
                    bytes=sum(
                        row_json(row.StatsJSON, f"EquipID {equip}", version, row.ModelType, "StatsJSON").get("bytes", 0)
                        for row in members
                    ),
                    consistent=bool(manifest)
                    and bool(row_json(manifest[0].StatsJSON, f"EquipID {equip}", version, MANIFEST, "StatsJSON")
                             .get("consistent")),
                )
            )
        infos.sort(key=lambda info: (info.entry_datetime or datetime.min, info.version), reverse=True)
        return sorted(infos, key=lambda info: info.equip_id)

    def damage(self, equipment: Equipment, version: int) -> str | None:
        """Why a complete version's rows fail their SHA-256 (or HMAC) or its manifest, None when every row
        verifies; nothing is unpickled."""
        with self.reading(f"verifying version {version} of equipment {equipment}") as conn:
            rows = conn.execute(
                sa.select(t.c.ModelType, t.c.ModelBytes, t.c.StatsJSON).where(
                    t.c.EquipID == equipment.equip_id, t.c.Version == version
                )
            ).all()
        rows = {row.ModelType: row for row in rows}
        try:
            manifest = self._verified_manifest(equipment, version, rows[MANIFEST].ModelBytes, rows[MANIFEST].StatsJSON)
            for model_type, row in rows.items():
                if model_type != MANIFEST:
                    stats = row_json(row.StatsJSON, equipment, version, model_type, "StatsJSON")
                    self._check(equipment, version, model_type, row.ModelBytes, stats, manifest)
        except IntegrityError as exc:
            return str(exc)
        lacking = sorted(set(manifest.get("saved_models", [])) - set(rows))
        return f"version {version} of equipment {equipment} lacks rows {', '.join(lacking)}" if lacking else None

    def reading(self, what: str):
        return _Reading(self.engine, what)

    def _complete_version(self, conn: sa.Connection, equipment: Equipment, version: int | None) -> int:
        if version is None:
            return self._servable(conn, equipment).version
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

    def _check(
        self, equipment: Equipment, version: int, model_type: str, payload: bytes | None, stats: dict,
        manifest: dict | None = None,
    ) -> None:
        key = self._hmac_key
        reason = integrity.problem(
            payload, stats, key, lambda k, digest: integrity.sign(k, equipment.equip_id, model_type, digest)
        )
        if reason is None and manifest is not None:
            listed = manifest.get("models", {}).get(model_type, {}).get("sha256")
            if listed != stats.get("sha256"):
                reason = (
                    f"the row's sha256 {str(stats.get('sha256'))[:12]}... is not the {str(listed)[:12]}... that "
                    "the version's manifest lists (a row replayed or swapped from another version)"
                )
        if reason:
            raise IntegrityError(
                f"refusing model type {model_type} of equipment {equipment} version {version}: {reason}"
            )

    def _verified_manifest(self, equipment: Equipment, version: int, payload: bytes | None, stats: str | None) -> dict:
        parsed = row_json(stats, equipment, version, MANIFEST, "StatsJSON")
        reason = integrity.problem(
            payload, parsed, self._hmac_key,
            lambda k, digest: integrity.sign_manifest(k, equipment.equip_id, version, digest),
        )
        if reason is None:
            manifest = row_json(payload, equipment, version, MANIFEST, "ModelBytes")
            if (manifest.get("equip_id"), manifest.get("version")) not in ((equipment.equip_id, version), (None, None)):
                reason = f"it names EquipID {manifest.get('equip_id')} version {manifest.get('version')}"
            elif parsed.get("consistent") and not manifest.get("consistent"):
                reason = "StatsJSON marks it consistent but the manifest itself does not"
            else:
                return manifest
        raise IntegrityError(f"refusing the manifest of equipment {equipment} version {version}: {reason}")

    def _verified(
        self, equipment: Equipment, version: int, model_type: str, payload: bytes | None, params: str | None,
        stats: str | None, manifest: dict | None = None,
    ) -> LoadedModel:
        parsed_stats = row_json(stats, equipment, version, model_type, "StatsJSON")
        self._check(equipment, version, model_type, payload, parsed_stats, manifest)
        try:
            value = loads(payload, parsed_stats.get("format"))
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is reported with its identity
            raise IntegrityError(
                f"cannot unpickle model type {model_type} of equipment {equipment} version {version}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        params_json = row_json(params, equipment, version, model_type, "ParamsJSON")
        return LoadedModel(value, equipment, model_type, version, params_json, parsed_stats)

    # ---------------------------------------------------------------- signing

    def sign_all(
        self, previous_key: str | None = None, equip_id: int | None = None, codes: Mapping[int, str] | None = None
    ) -> list[tuple[int, int, int]]:
        """Verify every row's SHA-256 (and a complete version's rows against its manifest; with
        `previous_key`, their old signatures too), then sign them with this store's key, one transaction per
        version; returns (EquipID, Version, rows signed). Nothing is signed when any row fails."""
        if not self._hmac_key:
            raise RegistryError("signing needs a key: set ACM_REGISTRY_HMAC_KEY")

        def rows_of(conn: sa.Connection, equip: int, version: int):
            return conn.execute(
                sa.select(t.c.ModelType, t.c.ModelBytes, t.c.StatsJSON).where(t.c.EquipID == equip, t.c.Version == version)
            ).all()

        targets = []
        for equip in [equip_id] if equip_id is not None else self._equip_ids():
            equipment = Equipment(equip, (codes or {}).get(equip, "?"))
            with self.reading(f"verifying the rows of equipment {equipment}") as conn:
                for version in sorted(set(conn.execute(sa.select(t.c.Version).where(t.c.EquipID == equip)).scalars())):
                    self._signatures(equipment, version, rows_of(conn, equip, version), previous_key)
                    targets.append((equipment, version))
        signed = []
        for equipment, version in targets:

            def transaction(conn: sa.Connection, equipment=equipment, version=version) -> tuple[int, int, int]:
                self._lock(conn, equipment.equip_id)
                updates = self._signatures(equipment, version, rows_of(conn, equipment.equip_id, version), previous_key)
                for model_type, stats in updates.items():
                    conn.execute(
                        sa.update(t)
                        .where(t.c.EquipID == equipment.equip_id, t.c.Version == version, t.c.ModelType == model_type)
                        .values(StatsJSON=to_json(stats))
                    )
                return equipment.equip_id, version, len(updates)

            signed.append(self.in_transaction(transaction, f"signing equipment {equipment} version {version}"))
        return signed

    def _signatures(self, equipment: Equipment, version: int, rows, previous_key: str | None) -> dict[str, dict]:
        """StatsJSON with a fresh signature for each row, after checking the row as it stands."""
        verifier = ModelStore(self.engine, previous_key)
        rows = {row.ModelType: row for row in rows}
        manifest = None
        if MANIFEST in rows:
            try:
                manifest = verifier._verified_manifest(equipment, version, rows[MANIFEST].ModelBytes, rows[MANIFEST].StatsJSON)
            except IntegrityError:
                if not previous_key:
                    raise
                manifest = self._verified_manifest(equipment, version, rows[MANIFEST].ModelBytes, rows[MANIFEST].StatsJSON)
        updates = {}
        for model_type, row in rows.items():
            stats = row_json(row.StatsJSON, equipment, version, model_type, "StatsJSON")
            if model_type != MANIFEST:
                try:
                    verifier._check(equipment, version, model_type, row.ModelBytes, stats, manifest)
                except IntegrityError:
                    if not previous_key:
                        raise
                    self._check(equipment, version, model_type, row.ModelBytes, stats, manifest)
                stats["hmac"] = integrity.sign(self._hmac_key, equipment.equip_id, model_type, stats["sha256"])
            else:
                stats["hmac"] = integrity.sign_manifest(self._hmac_key, equipment.equip_id, version, stats["sha256"])
            updates[model_type] = stats
        return updates

    # ---------------------------------------------------------------- retention

    def prune(
        self,
        *,
        keep: int = DEFAULT_KEEP_VERSIONS,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        equip_id: int | None = None,
        liveness: RunLiveness | None = None,
    ) -> list[Removed]:
        """Delete complete versions beyond the newest `keep` by commit time, stale partial versions and
        training data no version uses; never what a live run needs (see `_apply_retention`)."""
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        equip_ids = [equip_id] if equip_id is not None else self._equip_ids()
        removed: list[Removed] = []
        for equip in equip_ids:

            def transaction(conn: sa.Connection, equip=equip) -> list[Removed]:
                self._lock(conn, equip)
                return self._apply_retention(conn, equip, keep, stale_after, liveness, None)

            removed += self.in_transaction(transaction, f"pruning EquipID {equip}")
        return removed

    def _equip_ids(self) -> list[int]:
        with self.reading("listing equipment") as conn:
            registry = set(conn.execute(sa.select(t.c.EquipID).distinct()).scalars())
            data = set(conn.execute(sa.select(d.c.EquipID).distinct()).scalars())
        return sorted(registry | data)

    def _apply_retention(
        self,
        conn: sa.Connection,
        equip_id: int,
        keep: int,
        stale_after: timedelta,
        liveness: RunLiveness | None,
        committing: int | None,
    ) -> list[Removed]:
        """Keep the newest `keep` complete versions by commit time, plus the version being committed, every
        version whose run group is still running and every version a live pending version carries from.
        A partial version is stale once idle `stale_after` and its run group finished (or, when the run
        cannot be asked about, its lease expired). Training data goes when no remaining row uses it and
        its own run is stale by the same rule."""
        now = utcnow()
        alive = _memo(liveness)

        def stale(group: str | None, idle: timedelta) -> bool:
            if idle < stale_after:
                return False
            return idle >= LEASE or group is None or alive(group) is False

        rows = conn.execute(
            sa.select(t.c.Version, t.c.ModelType, t.c.EntryDateTime, t.c.RunID, t.c.StatsJSON).where(
                t.c.EquipID == equip_id
            )
        ).all()
        versions: dict[int, list] = {}
        for row in rows:
            versions.setdefault(row.Version, []).append(row)
        # Complete versions, newest commit first (a manifest's EntryDateTime is its commit time).
        manifests = sorted(((row.EntryDateTime, row.Version) for row in rows if row.ModelType == MANIFEST), reverse=True)
        complete = [version for _, version in manifests]
        partial = {
            version: stale(members[0].RunID, now - max(row.EntryDateTime for row in members))
            for version, members in versions.items()
            if version not in complete
        }
        protected = {committing}
        for version, is_stale in partial.items():
            if not is_stale:
                protected |= {
                    row_json(row.StatsJSON, f"EquipID {equip_id}", version, row.ModelType, "StatsJSON")
                    .get("base_version")
                    for row in versions[version]
                }
        for version in complete[keep:]:
            group = versions[version][0].RunID
            if group is not None and alive(group) is True:
                protected.add(version)
        old = [version for version in complete[keep:] if version not in protected]
        dead = sorted((version for version, is_stale in partial.items() if is_stale), reverse=True)
        self._delete_versions(conn, equip_id, old + dead)
        removed = [Removed(equip_id, version, f"beyond newest {keep}") for version in old]
        removed += [Removed(equip_id, version, "stale partial") for version in dead]
        return removed + self._prune_training_data(conn, equip_id, [row for row in rows if row.Version not in set(old + dead)], stale, now)

    def _prune_training_data(self, conn: sa.Connection, equip_id: int, remaining, stale, now: datetime) -> list[Removed]:
        """Training data no remaining row was fitted on, once its own run is stale."""
        candidates = [
            (fingerprint, group)
            for fingerprint, group, written in conn.execute(
                sa.select(d.c.Fingerprint, d.c.RunID, d.c.EntryDateTime).where(d.c.EquipID == equip_id)
            )
            if stale(group, now - written)
        ]
        if not candidates:
            return []
        used = {
            (row_json(row.StatsJSON, f"EquipID {equip_id}", row.Version, row.ModelType, "StatsJSON")
             .get("trained_on") or {}).get("id")
            for row in remaining
            if row.ModelType != MANIFEST
        }
        unused = [(fingerprint, group) for fingerprint, group in candidates if fingerprint not in used]
        for fingerprint, group in unused:
            conn.execute(sa.delete(d).where(d.c.EquipID == equip_id, d.c.Fingerprint == fingerprint, d.c.RunID == group))
        return [Removed(equip_id, None, f"training data {fingerprint[:12]} used by no version") for fingerprint, _ in unused]

    def _delete_versions(self, conn: sa.Connection, equip_id: int, versions: list[int]) -> None:
        if versions:
            conn.execute(sa.delete(t).where(t.c.EquipID == equip_id, t.c.Version.in_(versions)))


class _Reading:
    """A read-only transaction (no write lock on SQLite) whose driver failures become RegistryErrors with
    the password masked."""

    def __init__(self, engine: sa.Engine, what: str):
        self._engine = engine
        self._what = what
        self._conn: sa.Connection | None = None

    def __enter__(self) -> sa.Connection:
        try:
            self._conn = self._engine.connect().execution_options(**{READ_ONLY: True})
        except sa.exc.DBAPIError as exc:
            raise RegistryError(f"{self._what}: {describe_database_error(exc, self._engine.url)}") from None
        return self._conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._conn is not None
        self._conn.close()
        if isinstance(exc, sa.exc.DBAPIError):
            raise RegistryError(f"{self._what}: {describe_database_error(exc, self._engine.url)}") from None
        return False


def check_consistency(equipment: Equipment, version: int, models: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a set whose models were fitted on different training data, or on upstream models other than
    the ones the set holds (compared by SHA-256)."""

    def origin(entry: Mapping[str, Any]) -> str:
        return f"carried from v{entry['carried_from']}" if entry.get("carried_from") else "trained by this run"

    by_data: dict[str | None, list[str]] = {}
    for model_type, entry in sorted(models.items()):
        by_data.setdefault((entry.get("trained_on") or {}).get("id"), []).append(model_type)
    problems = []
    if len(by_data) > 1:
        problems.append(
            "they were fitted on different training data: "
            + "; ".join(
                f"{', '.join(f'{m} ({origin(models[m])})' for m in types)} on "
                f"{describe_training_data(models[types[0]].get('trained_on'))}"
                for types in by_data.values()
            )
        )
    for model_type, entry in sorted(models.items()):
        for upstream, record in sorted((entry.get("upstream") or {}).items()):
            held = models.get(upstream)
            if held is not None and held.get("sha256") != record.get("sha256"):
                problems.append(
                    f"{model_type} ({origin(entry)}) was fitted on {upstream} v{record.get('version')} "
                    f"(sha256 {str(record.get('sha256'))[:12]}...), but the set's {upstream} ({origin(held)}) is "
                    f"{str(held.get('sha256'))[:12]}..."
                )
    if problems:
        raise InconsistentVersionError(
            f"refusing to commit version {version} of equipment {equipment}: " + "; ".join(problems)
            + ". Re-fit them together (the whole training job), or rerun only the models to replace so they "
            "refit against the training data of the version they carry from"
        )


def describe_training_data(fingerprint: Mapping[str, Any] | None) -> str:
    if not fingerprint:
        return "no recorded training data"
    facts = ", ".join(f"{key} {value}" for key, value in sorted(fingerprint.items()) if key not in ("id", "sha256", "equip_id"))
    return f"training data {str(fingerprint.get('id'))[:12]} ({facts})"


def row_json(text: str | bytes | None, equipment: Equipment | str, version: int, model_type: str, column: str) -> dict:
    """A JSON column of one ModelRegistry row; damage is refused naming the row and the column."""
    try:
        return json.loads(text or "{}")
    except ValueError as exc:
        raise IntegrityError(
            f"ModelRegistry row of equipment {equipment}, version {version}, model type {model_type}: column {column} "
            f"is not valid JSON ({exc})"
        ) from None


def _memo(liveness: RunLiveness | None) -> RunLiveness:
    answers: dict[str, bool | None] = {}

    def alive(group: str) -> bool | None:
        if liveness is None:
            return None
        if group not in answers:
            answers[group] = liveness(group)
        return answers[group]

    return alive


def is_transient(exc: sa.exc.DBAPIError) -> bool:
    """Worth retrying the whole transaction: lock timeouts ("database is locked"), deadlock victims,
    serialization failures, a key raced in. A NOT NULL or CHECK violation is not: retrying cannot help.
    pyodbc reports SQL Server deadlocks (40001) and lock timeouts (HYT00) as its generic Error, so the
    SQLSTATE decides there."""
    if isinstance(exc, sa.exc.IntegrityError):
        return _is_key_race(exc.orig)
    if isinstance(exc, sa.exc.OperationalError):
        return True
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in ("40001", "HYT00")


def _is_key_race(orig: BaseException) -> bool:
    """A unique/primary key violation (another writer took the key first), by SQLSTATE where the driver
    gives one (PostgreSQL 23505), else by the message (SQLite, SQL Server errors 2627/2601)."""
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        return sqlstate == "23505"
    text = " ".join(str(arg) for arg in getattr(orig, "args", ()))
    return any(marker in text for marker in ("UNIQUE constraint failed", "duplicate key", "(2627)", "(2601)"))


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
