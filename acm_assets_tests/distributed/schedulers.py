"""Dagster's own scheduler iteration (what `dagster-daemon run` does each tick), for running two at once."""

from __future__ import annotations

import datetime as dt
import logging
import os

import dagster as dg
from dagster._core.test_utils import create_test_daemon_workspace_context, load_remote_repo
from dagster._core.workspace.load_target import ModuleTarget
from dagster._scheduler.scheduler import launch_scheduled_runs

SCHEDULE = "daily_scoring_schedule"


def _target(location_module: str) -> ModuleTarget:
    return ModuleTarget(module_name=location_module, attribute="defs", working_directory=os.getcwd(), location_name="acm")


def start_schedule(location_module: str) -> None:
    """Switch the schedule on, as an operator does in the UI (its ticks start from now)."""
    with dg.DagsterInstance.get() as instance, create_test_daemon_workspace_context(_target(location_module), instance) as context:
        instance.start_schedule(load_remote_repo(context, "__repository__").get_schedule(SCHEDULE))


def tick(location_module: str, end_utc: str) -> None:
    """One scheduler iteration up to `end_utc`: every due tick's runs are submitted to the run coordinator."""
    with dg.DagsterInstance.get() as instance, create_test_daemon_workspace_context(_target(location_module), instance) as context:
        list(launch_scheduled_runs(context, logging.getLogger("acm.scheduler"), dt.datetime.fromisoformat(end_utc), {}))
