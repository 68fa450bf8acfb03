"""The fleet health page: one HTML file a day for the whole fleet, linked from its materialization."""

import datetime as dt
import os

import dagster as dg

from acm_assets.outputs.fleet_page import fleet_health, render_fleet_page
from acm_assets.resources import AcmDatabase, FleetPageFolder


@dg.asset(
    deps=["anomaly_episodes", "health_timeline"],
    group_name="reports",
    description="One self-contained HTML page for the whole fleet, worst first: latest health, open and recent "
    "episodes with culprits, triage state and time to a limit, a health plot per equipment.",
)
def fleet_health_page(context: dg.AssetExecutionContext, acm_database: AcmDatabase,
                      fleet_page: FleetPageFolder) -> dg.MaterializeResult:
    """Written as `fleet-health-<latest scored day>.html`, so each day's page stays next to the others (a rerun on
    the same day replaces it, with the triage state as it is then)."""
    generated = dt.datetime.now(dt.timezone.utc)
    fleet = fleet_health(acm_database.outputs.engine)
    days = [item.latest_day for item in fleet if item.latest_day is not None]
    folder = fleet_page.folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"fleet-health-{max(days) if days else 'unscored'}.html"
    partial = path.with_suffix(".html.partial")
    partial.write_text(render_fleet_page(fleet, generated), encoding="utf-8")
    os.replace(partial, path)  # a reader never sees half a page
    counts = {status: sum(item.status == status for item in fleet) for status in
              ("open episode", "to review", "behind", "no data", "ok")}
    context.log.info(f"fleet health page: {path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "url": dg.MetadataValue.url(path.resolve().as_uri()),
            "equipment": len(fleet),
            "scored_up_to": str(max(days)) if days else "nothing scored",
            "worst_first": dg.MetadataValue.json([f"{item.equipment.code}: {item.status}" for item in fleet[:20]]),
            **{f"equipment_{status.replace(' ', '_')}": n for status, n in counts.items()},
        }
    )
