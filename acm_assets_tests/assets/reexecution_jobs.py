"""Reconstructable jobs for re-execution tests (Dagster re-imports them by module and function name)."""

import os

from acm_assets.definitions import build_definitions


def training_job():
    return build_definitions(os.environ["ACM_DATABASE_URL"]).resolve_job_def("training")
