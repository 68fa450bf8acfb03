"""Which Dagster executor the code location runs steps with: in-process on a laptop, Celery in production.

The choice comes from the environment of the process that loads the definitions (the code server, and the
run worker it launches), so one image serves both profiles and the laptop default needs no setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

EXECUTOR_ENV = "ACM_EXECUTOR"
CELERY_BROKER_ENV = "ACM_CELERY_BROKER_URL"
CELERY_BACKEND_ENV = "ACM_CELERY_BACKEND_URL"
CELERY_QUEUE_ENV = "ACM_CELERY_QUEUE"
# The same as deploy/celery.yaml, which the workers start from (see the reason there).
CELERY_SETTINGS = {"task_acks_late": True}
EXECUTORS = ("in_process", "multiprocess", "celery")


def executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """`$ACM_EXECUTOR`: `in_process` (default: steps here take about a second, a process each costs more),
    `multiprocess` (one process per step on this machine), or `celery` (steps on `dagster-celery` workers
    listening on `$ACM_CELERY_BROKER_URL`, queue `$ACM_CELERY_QUEUE` (default `dagster`); results over
    `$ACM_CELERY_BACKEND_URL`, default `rpc://`)."""
    environ = os.environ if environ is None else environ
    name = environ.get(EXECUTOR_ENV, "").strip() or "in_process"
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "celery":
        return celery_executor(environ)
    raise dg.DagsterInvariantViolationError(f"{EXECUTOR_ENV}={name!r}: expected one of {', '.join(EXECUTORS)}")


def celery_executor(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """dagster-celery's executor with its broker read from `$ACM_CELERY_BROKER_URL` when a run starts
    (never stored in run config), so the URL and its password stay out of the UI."""
    environ = os.environ if environ is None else environ
    if not environ.get(CELERY_BROKER_ENV):
        raise dg.DagsterInvariantViolationError(
            f"{EXECUTOR_ENV}=celery needs {CELERY_BROKER_ENV} (e.g. pyamqp://guest:guest@127.0.0.1:5672//)"
        )
    # Imported here: dagster-celery is only needed by deployments that choose it.
    from dagster_celery import celery_executor as dagster_celery_executor

    config: dict = {"broker": {"env": CELERY_BROKER_ENV}, "config_source": dict(CELERY_SETTINGS)}
    if environ.get(CELERY_BACKEND_ENV):
        config["backend"] = {"env": CELERY_BACKEND_ENV}
    if environ.get(CELERY_QUEUE_ENV):
        # Its own queue per code location (workers start with `-q <queue>`): steps never reach workers that
        # load other code or other databases through the same broker.
        config["config_source"]["task_default_queue"] = environ[CELERY_QUEUE_ENV]
    return dagster_celery_executor.configured(config, name="celery")
