"""The code location as a production deployment loads it: executor from $ACM_EXECUTOR (see
acm_assets.executors), every database URL from the environment. Celery workers import it by module name."""

import dagster as dg

from acm_assets.assets.ingest import baseline
from acm_assets.assets.scoring import anomaly_scoring
from acm_assets.assets.training import model_assets
from acm_assets.database import DATABASE_URL_ENV
from acm_assets.definitions import build_resources
from acm_assets.executors import executor_from_env
from acm_assets.jobs import scoring_job, training_job
from acm_assets.schedules import daily_scoring_schedule, weekly_training_schedule
from acm_assets.sensors import equipment_sensor

defs = dg.Definitions(
    assets=[baseline, *model_assets, anomaly_scoring],
    jobs=[training_job, scoring_job],
    schedules=[daily_scoring_schedule, weekly_training_schedule],
    sensors=[equipment_sensor],
    resources=build_resources(dg.EnvVar(DATABASE_URL_ENV)),
    executor=executor_from_env(),
)
