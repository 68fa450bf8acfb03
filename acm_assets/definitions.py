"""The code location: every asset, check, job, schedule, sensor and resource of acm_assets."""

import dagster as dg

defs = dg.Definitions()
