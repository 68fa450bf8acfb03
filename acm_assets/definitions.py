"""The code location: every asset, check, job, schedule, sensor and resource of acm_assets."""

import os

import dagster as dg

from acm_assets.assets.fleet import fleet_health_page
from acm_assets.assets.ingest import TRAINING_DATA_IO_MANAGER_KEY, baseline
from acm_assets.assets.scoring import anomaly_scoring
from acm_assets.assets.training import MODEL_IO_MANAGER_KEY, model_assets
from acm_assets.database import DATABASE_URL_ENV
from acm_assets.executors import executor_from_env
from acm_assets.jobs import fleet_page_job, scoring_job, training_job, triage_job
from acm_assets.outputs.limits import TAG_LIMITS_ENV
from acm_assets.registry.io_manager import ModelRegistryIOManager, TrainingDataIOManager
from acm_assets.resources import AcmDatabase, FleetPageFolder, NotificationTargets, TagLimits
from acm_assets.schedules import daily_fleet_page_schedule, daily_scoring_schedule, weekly_training_schedule
from acm_assets.sensors import equipment_sensor, notification_sensor

HMAC_KEY_ENV = "ACM_REGISTRY_HMAC_KEY"
FLEET_PAGE_DIR_ENV = "ACM_FLEET_PAGE_DIR"
WEBHOOK_URL_ENV = "ACM_NOTIFY_WEBHOOK_URL"
SMTP_URL_ENV = "ACM_SMTP_URL"
EMAIL_TO_ENV = "ACM_NOTIFY_EMAIL_TO"
# "1" in the production profile: the code location refuses to start without a signing key.
REQUIRE_SIGNING_ENV = "ACM_REGISTRY_REQUIRE_SIGNING"


def _secret(name: str) -> dg.EnvVar | None:
    """An EnvVar when the variable is set (its value never shows in the UI), else None (embedded default)."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_resources(database_url: str | dg.EnvVar | None, hmac_key: str | dg.EnvVar | None = None) -> dict:
    """The database resource (historian and output tables) and the registry's two IO managers (baselines and
    models), all on one database; the notification targets from the environment."""
    registry = {"database_url": database_url, "hmac_key": hmac_key, "require_signing": os.environ.get(REQUIRE_SIGNING_ENV) == "1"}
    return {
        "acm_database": AcmDatabase(database_url=database_url),
        "tag_limits": TagLimits(path=os.environ.get(TAG_LIMITS_ENV) or None),
        "fleet_page": FleetPageFolder(path=os.environ.get(FLEET_PAGE_DIR_ENV) or None),
        TRAINING_DATA_IO_MANAGER_KEY: TrainingDataIOManager(**registry),
        MODEL_IO_MANAGER_KEY: ModelRegistryIOManager(**registry),
        "notifications": NotificationTargets(
            webhook_url=_secret(WEBHOOK_URL_ENV), smtp_url=_secret(SMTP_URL_ENV), email_to=_secret(EMAIL_TO_ENV)
        ),
    }


def build_definitions(database_url: str | dg.EnvVar | None, hmac_key: str | dg.EnvVar | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=[baseline, *model_assets, anomaly_scoring, fleet_health_page],
        jobs=[training_job, scoring_job, triage_job, fleet_page_job],
        schedules=[daily_scoring_schedule, weekly_training_schedule, daily_fleet_page_schedule],
        sensors=[equipment_sensor, notification_sensor],
        resources=build_resources(database_url, hmac_key),
        # In-process unless $ACM_EXECUTOR says otherwise: steps take about a second, a process each ~10 s.
        executor=executor_from_env(),
    )


defs = build_definitions(_secret(DATABASE_URL_ENV), _secret(HMAC_KEY_ENV))
