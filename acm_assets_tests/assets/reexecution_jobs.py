"""Reconstructable jobs for re-execution tests (Dagster re-imports them by module and function name).

The database URL is an EnvVar, read when a run starts: Dagster caches a reconstructed job per process, so
a URL baked in at definition time would follow one test's database into the next."""

import dagster as dg

from acm_assets.database import DATABASE_URL_ENV
from acm_assets.definitions import build_definitions


def training_job():
    return build_definitions(dg.EnvVar(DATABASE_URL_ENV)).resolve_job_def("training")
