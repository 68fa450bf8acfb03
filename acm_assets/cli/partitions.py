"""`acm partitions migrate`: after the upgrade from equipment x day to equipment x month scoring partitions,
report every equipment month whose days were scored before as materialized, so the UI's partition status
shows them without rescoring. The output rows are keyed by day and stay as they are; the old day
materializations name partitions the code location no longer has, and Dagster leaves them out of status.

Runs on the Dagster instance at $DAGSTER_HOME and the ACM database; running it again reports nothing twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os

import dagster as dg

from acm_assets.assets.scoring import OUTPUT_TABLES, day_ranges, month_coverage
from acm_assets.cli import CliError
from acm_assets.cli.historian import add_database_option
from acm_assets.partitions import FIRST_DAY_ENV, LAST_DAY_ENV, calendar, equipment_partitions, month_of
from acm_assets.resources import AcmDatabase

MIGRATED = "from rows scored under the equipment x day partitions (acm partitions migrate)"


def register(commands) -> None:
    parser = commands.add_parser("partitions", help="maintain the scoring partitions of the Dagster instance")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = actions.add_parser(
        "migrate", help="report the equipment months scored under equipment x day partitions as materialized"
    )
    add_database_option(migrate)
    migrate.set_defaults(handler=_migrate)


def _migrate(args) -> int:
    if not os.environ.get("DAGSTER_HOME"):
        raise CliError("DAGSTER_HOME is not set: it names the Dagster instance whose partition status to migrate")
    database = AcmDatabase(database_url=args.database_url)
    with dg.DagsterInstance.get() as instance:
        materialized = {name: instance.get_materialized_partitions(dg.AssetKey(name)) for name in OUTPUT_TABLES}
        registered = set(instance.get_dynamic_partitions(equipment_partitions.name))
        for equipment in database.historian.list_equipment():
            rows = database.outputs.rows_per_day("ACM_HealthTimeline", equipment.equip_id, dt.date.min, dt.date.max)
            days = sorted(rows)
            if not days:
                continue
            if equipment.code not in registered:
                instance.add_dynamic_partitions(equipment_partitions.name, [equipment.code])
            reported, kept = [], 0
            for month, month_days in itertools.groupby([d for d in days if calendar.covers(d)], key=month_of):
                key = dg.MultiPartitionKey({"equipment": equipment.code, "month": month})
                if all(str(key) in materialized[name] for name in OUTPUT_TABLES):
                    kept += 1
                    continue
                _report(instance, key, list(month_days), month_coverage(database, equipment.equip_id, month))
                reported.append(month)
            listed = f" ({reported[0]} .. {reported[-1]})" if reported else ""
            print(f"{equipment.code}: {len(reported)} months reported as materialized{listed}, "
                  f"{kept} already materialized")
            outside = [d for d in days if not calendar.covers(d)]
            if outside:
                print(f"{equipment.code}: {len(outside)} scored days lie outside ${FIRST_DAY_ENV} .. ${LAST_DAY_ENV} "
                      f"({day_ranges(outside)}): widen them to show these days, then run this again")
    return 0


def _report(instance: dg.DagsterInstance, key: dg.MultiPartitionKey, days: list[dt.date], coverage: dict) -> None:
    tags = {f"dagster/partition/{dimension}": value for dimension, value in key.keys_by_dimension.items()}
    shown = f"{days[0]}" if len(days) == 1 else f"{days[0]} .. {days[-1]} ({len(days)} days)"
    for name in OUTPUT_TABLES:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=name, partition=str(key), tags=tags,
                metadata={"days": shown, **coverage[name], "migrated": MIGRATED},
            )
        )
