"""`acm registry init|list|show|prune|sign|export|import`: operate the ModelRegistry table from a shell.

`prune` asks the Dagster instance at $DAGSTER_HOME whether a pending version's run is still going; without
one, a pending version is held by its lease."""

from __future__ import annotations

import argparse
import json
import os
from datetime import timedelta
from pathlib import Path

from acm_assets.cli import CliError
from acm_assets.database import DatabaseConnectionError, create_engine, default_database_url, redact
from acm_assets.registry.equipment import Equipment, EquipmentResolver
from acm_assets.registry.errors import RegistryError
from acm_assets.registry.folder import export_version, read_version_folder
from acm_assets.registry.schema import check_registry_table, create_registry_table
from acm_assets.registry.store import DEFAULT_KEEP_VERSIONS, LEASE, ModelStore, RunLiveness

HMAC_KEY_ENV = "ACM_REGISTRY_HMAC_KEY"


def register(commands) -> None:
    parser = commands.add_parser("registry", help="inspect and maintain the ModelRegistry table")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text)
        sub.add_argument(
            "--database-url", default=None, help="SQLAlchemy URL (default: $ACM_DATABASE_URL, else the SQLite file)"
        )
        sub.set_defaults(handler=handler)
        return sub

    action("init", _init, "create the ModelRegistry table where it is missing (and nothing else)")
    listing = action("list", _list, "list versions per equipment (complete and partial)")
    listing.add_argument("--equipment", help="only this equipment code")
    show = action("show", _show, "print the manifest of a complete version")
    show.add_argument("equipment")
    show.add_argument("--version", type=int, help="default: the latest complete version")
    prune = action("prune", _prune, "delete versions beyond the newest N and stale partial versions")
    prune.add_argument("--keep", type=int, default=DEFAULT_KEEP_VERSIONS, help="complete versions kept per equipment")
    prune.add_argument(
        "--stale-after-hours",
        type=float,
        default=24.0,
        help="partial versions of finished runs idle longer than this are deleted (never those of running runs)",
    )
    prune.add_argument("--equipment", help="only this equipment code")
    sign = action("sign", _sign, "verify every row's hashes and sign it with $ACM_REGISTRY_HMAC_KEY (turn a key on or rotate it)")
    sign.add_argument(
        "--previous-key-env",
        metavar="VAR",
        help="environment variable holding the key rows are signed with now: their signatures are checked first",
    )
    sign.add_argument("--equipment", help="only this equipment code")
    export = action("export", _export, "write a version as v<N>/<model_type>.joblib + manifest.json")
    export.add_argument("equipment")
    export.add_argument("out_dir", type=Path)
    export.add_argument("--version", type=int, help="default: the latest complete version")
    imported = action("import", _import, "store a v<N> folder (or a legacy artifacts tree's newest) as a new version")
    imported.add_argument("equipment")
    imported.add_argument("path", type=Path)


def _store(args) -> tuple[ModelStore, EquipmentResolver]:
    url = args.database_url or default_database_url()
    try:
        engine = create_engine(url)
        check_registry_table(engine)
    except (RegistryError, DatabaseConnectionError) as exc:
        raise CliError(str(exc)) from None
    return ModelStore(engine, hmac_key=os.environ.get(HMAC_KEY_ENV)), EquipmentResolver(engine)


def _guarded(handler):
    """Registry failures are operator-facing: one line, exit status 2."""

    def run(args) -> int:
        try:
            return handler(args)
        except RegistryError as exc:
            raise CliError(str(exc)) from None

    return run


def _init(args) -> int:
    url = args.database_url or default_database_url()
    try:
        engine = create_engine(url)
        created = create_registry_table(engine)
        check_registry_table(engine)
    except (RegistryError, DatabaseConnectionError) as exc:
        raise CliError(str(exc)) from None
    print(f"{'created' if created else 'already present'}: ModelRegistry in {redact(url)}")
    return 0


@_guarded
def _list(args) -> int:
    store, resolver = _store(args)
    equip_id = resolver.resolve(args.equipment).equip_id if args.equipment else None
    codes = resolver.known()
    infos = store.versions(equip_id)
    if not infos:
        print("no versions")
        return 0
    print(f"{'equipment':<16} {'EquipID':>7} {'version':>7} {'state':<8} {'bytes':>10} {'written (UTC)':<19}  model types")
    for info in infos:
        written = info.entry_datetime.strftime("%Y-%m-%d %H:%M:%S") if info.entry_datetime else "-"
        # Complete means loadable: every row of the version is checked against its hash and the manifest.
        equipment = Equipment(info.equip_id, codes.get(info.equip_id, "?"))
        damage = store.damage(equipment, info.version) if info.complete else None
        state = "damaged" if damage else "complete" if info.consistent else "unchecked"
        state = state if info.complete else "partial"
        print(
            f"{codes.get(info.equip_id, '?'):<16} {info.equip_id:>7} {info.version:>7} {state:<8} "
            f"{info.bytes:>10} {written:<19}  {','.join(info.model_types)}"
        )
        if damage:
            print(f"  {damage}")
    return 0


@_guarded
def _show(args) -> int:
    store, resolver = _store(args)
    print(json.dumps(store.manifest(resolver.resolve(args.equipment), args.version), indent=2, sort_keys=True))
    return 0


@_guarded
def _prune(args) -> int:
    if args.keep < 1:
        raise CliError(f"--keep must be at least 1, got {args.keep}")
    store, resolver = _store(args)
    equip_id = resolver.resolve(args.equipment).equip_id if args.equipment else None
    codes = resolver.known()
    liveness, source = _liveness()
    print(f"run liveness: {source}")
    removed = store.prune(
        keep=args.keep, stale_after=timedelta(hours=args.stale_after_hours), equip_id=equip_id, liveness=liveness
    )
    for equip, version, reason in removed:
        what = f"version {version}" if version is not None else "training data"
        print(f"deleted {codes.get(equip, equip)} {what} ({reason})")
    print(f"{sum(1 for entry in removed if entry.version is not None)} version(s) deleted")
    return 0


def _liveness() -> tuple[RunLiveness | None, str]:
    """The Dagster instance at $DAGSTER_HOME when there is one (imported only then: prune works without it)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None, f"no Dagster instance ($DAGSTER_HOME unset): pending versions are held for their {LEASE} lease"
    import dagster as dg

    from acm_assets.registry.runs import run_group_liveness

    return run_group_liveness(dg.DagsterInstance.get()), f"Dagster instance at {home}"


@_guarded
def _sign(args) -> int:
    store, resolver = _store(args)
    if not store.signed:
        raise CliError(f"set {HMAC_KEY_ENV} to the key to sign with")
    previous = None
    if args.previous_key_env:
        previous = os.environ.get(args.previous_key_env)
        if not previous:
            raise CliError(f"--previous-key-env {args.previous_key_env}: that environment variable is not set")
    equip_id = resolver.resolve(args.equipment).equip_id if args.equipment else None
    codes = resolver.known()
    signed = store.sign_all(previous, equip_id, codes)
    for equip, version, count in signed:
        print(f"signed {codes.get(equip, equip)} version {version}: {count} row(s)")
    print(f"{len(signed)} version(s) signed")
    return 0


@_guarded
def _export(args) -> int:
    store, resolver = _store(args)
    target = export_version(store, resolver.resolve(args.equipment), args.version, args.out_dir)
    print(f"exported to {target}")
    return 0


@_guarded
def _import(args) -> int:
    store, resolver = _store(args)
    equipment = resolver.resolve(args.equipment)
    folder, models = read_version_folder(args.path)
    version = store.import_version(equipment, models, source=f"import:{folder}")
    print(f"imported {folder} as version {version} of {equipment}: {', '.join(sorted(models))}")
    return 0
