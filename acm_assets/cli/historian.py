"""`acm equipment list|add` and `acm import-csv`: the operator's way to register equipment and load exports.

`import-csv` never registers equipment on its own: a mistyped `--equip` must fail, not create a new
equipment. Exports are stored as recorded (sorted, duplicate timestamps keep-last, future rows dropped,
nothing interpolated); every file is read and checked before anything is written, and each file is
written in one transaction, so a second import of the same file changes nothing. Files are streamed through a
temporary staging file on disk, so an export larger than the memory imports in bounded memory.
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from acm_assets.cli import CliError
from acm_assets.database import DatabaseConnectionError, create_engine, default_database_url, driver_reason, redact
from acm_assets.ingest.csv_reader import HistorianStream
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.historian import HistorianStore
from acm_assets.ingest.staging import StagedExport
from acm_assets.ingest.tags import tag_limits


def register(commands) -> None:
    equipment = commands.add_parser("equipment", help="list or register equipment (the Equipment table)")
    actions = equipment.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="show registered equipment and their stored history")
    add_database_option(listing)
    listing.set_defaults(handler=_list_equipment)
    add = actions.add_parser("add", help="register equipment under a new code")
    add.add_argument("code", help="equipment code, e.g. FD_FAN (letters, digits, '_' or '-')")
    add.add_argument("--name", help="readable name")
    add.add_argument("--type", dest="equip_type", help="equipment type, e.g. FD_FAN, COND_PUMP, GAS_TURBINE")
    add_database_option(add)
    add.set_defaults(handler=_add_equipment)

    imports = commands.add_parser("import-csv", help="load historian CSV exports into the historian tables")
    imports.add_argument("--equip", required=True, metavar="CODE", help="registered equipment code")
    imports.add_argument("files", nargs="+", metavar="FILE", help="CSV export(s)")
    imports.add_argument(
        "--timezone", default="UTC", help="zone of the export's wall-clock timestamps (default: UTC)"
    )
    imports.add_argument(
        "--timestamp-format",
        action="append",
        dest="timestamp_formats",
        metavar="FORMAT",
        help="strptime format of the timestamps, repeatable; replaces the default month-first/ISO list",
    )
    add_database_option(imports)
    imports.set_defaults(handler=_import_csv)


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: $ACM_DATABASE_URL, else the embedded SQLite file under $ACM_HOME)",
    )


@contextmanager
def open_store(url: str | None):
    """The historian store on `url` with its tables created; ingest and database failures become CliErrors."""
    url = url or default_database_url()
    try:
        engine = create_engine(url)
    except DatabaseConnectionError as exc:
        raise CliError(str(exc)) from None
    except sa.exc.ArgumentError as exc:
        raise CliError(f"invalid database URL: {exc}") from None
    try:
        store = HistorianStore(engine)
        store.create_tables()
        yield store
    except IngestError as exc:
        raise CliError(str(exc)) from None
    except sa.exc.DBAPIError as exc:
        raise CliError(f"database {redact(url)} failed: {driver_reason(exc.orig, url)}") from None
    finally:
        engine.dispose()


def _list_equipment(args) -> int:
    with open_store(args.database_url) as store:
        equipment = store.list_equipment()
        stored = store.data_summary()
    if not equipment:
        print("no equipment registered (add some with `acm equipment add CODE`)")
        return 0
    print(f"{'EquipID':>7}  {'EquipCode':<16} {'EquipType':<12} {'tags':>4} {'points':>10}  history (UTC)   name")
    for e in equipment:
        points, first, last = stored.get(e.code, (0, None, None))
        history = f"{_day(first)} .. {_day(last)}" if points else "-"
        print(
            f"{e.equip_id:>7}  {e.code:<16} {e.equip_type or '-':<12} {len(e.tags):>4} {points:>10}  "
            f"{history:<24}  {e.name or ''}"
        )
    return 0


def _add_equipment(args) -> int:
    with open_store(args.database_url) as store:
        equipment = store.add_equipment(args.code, name=args.name, equip_type=args.equip_type)
    print(f"registered {equipment.code} as EquipID {equipment.equip_id}")
    return 0


def _import_csv(args) -> int:
    with open_store(args.database_url) as store, tempfile.TemporaryDirectory(prefix="acm-import-") as folder:
        store.get_equipment(args.equip)
        staged = [
            StagedExport(
                HistorianStream(path, timezone=args.timezone, timestamp_formats=args.timestamp_formats), Path(folder)
            )
            for path in args.files
        ]
        metadata = [{tag: _tag_metadata(info) for tag, info in export.tags.items()} for export in staged]
        for path, tags in zip(args.files, metadata):
            tag_limits(tags, str(path))  # a limit row that holds no number fails before anything is written
        for path, export, tags in zip(args.files, staged, metadata):
            result = store.write_frames(args.equip, export.batches(), list(export.tags), tags=tags)
            export.close()
            report = export.report
            dropped = ", ".join(f"{why} {n}" for why, n in report.dropped_rows.items() if n) or "none"
            cadence = "-" if report.cadence is None else _duration(report.cadence)
            print(
                f"{path}: {report.rows_in} rows read, {report.rows_out} kept (dropped: {dropped}); "
                f"{len(export.tags)} tags, {report.start:%Y-%m-%d %H:%M} .. {report.end:%Y-%m-%d %H:%M} UTC, "
                f"cadence {cadence}, gaps {len(report.gaps)}"
            )
            if report.dropped_tags:
                print(f"  columns not imported: {report.dropped_tags}")
            print(
                f"  {args.equip}: {result.inserted} points inserted, {result.unchanged} unchanged, "
                f"{result.updated} updated"
            )
    return 0


def _tag_metadata(info) -> dict:
    return {key: value for key, value in info.to_metadata().items() if key != "name" and value}


def _day(stamp: pd.Timestamp | None) -> str:
    return "-" if stamp is None else f"{stamp:%Y-%m-%d %H:%M}"


def _duration(delta: pd.Timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} min" if minutes < 120 else f"{minutes / 60:g} h"
