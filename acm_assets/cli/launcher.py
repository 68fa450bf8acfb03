"""Runs launched from the code location as the webserver and daemon launch them (a code server, a run worker
process per run), so every run a command makes can be re-executed from the UI: `execute_in_process` runs
carry no code-location origin, and the UI refuses to re-execute them."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.remote_representation.external import RemoteJob
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import ModuleTarget

# The code location as workspace.yaml and pyproject's [tool.dg.project] name it: re-execution looks the
# parent run's location up by this name in the webserver's workspace.
LOCATION = "acm_assets"
MODULE = "acm_assets.definitions"
REPOSITORY = "__repository__"
POLL_S = 0.25


class Launcher:
    """Creates runs of the code location's jobs and launches each in its own run worker."""

    def __init__(self, instance: dg.DagsterInstance, workspace: WorkspaceRequestContext):
        self.instance, self.workspace = instance, workspace
        self.location = workspace.get_code_location(LOCATION)

    def launch(self, job_name: str, run_config: Mapping | None = None, tags: Mapping[str, str] | None = None) -> str:
        """What the Launchpad does: a run with the job's snapshot, plan and origins, launched at once (bypassing
        a queued run coordinator, which would wait for a daemon). Returns the run id."""
        job = self.job(job_name)
        run_config = dict(run_config or {})
        plan = self.location.get_execution_plan(job, run_config, step_keys_to_execute=None, known_state=None,
                                                instance=self.instance)
        run = self.instance.create_run(
            job_name=job_name, run_id=None, run_config=run_config, resolved_op_selection=None,
            step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute, op_selection=None,
            status=None, root_run_id=None, parent_run_id=None, tags={**job.tags, **(tags or {})},
            job_snapshot=job.job_snapshot, execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=job.parent_job_snapshot, remote_job_origin=job.get_remote_origin(),
            job_code_origin=job.get_python_origin(), asset_selection=None, asset_check_selection=None,
            asset_graph=self.location.get_repository(REPOSITORY).asset_graph,
        )
        self.instance.launch_run(run.run_id, self.workspace)
        return run.run_id

    def job(self, name: str) -> RemoteJob:
        return self.location.get_job(
            JobSubsetSelector(location_name=LOCATION, repository_name=REPOSITORY, job_name=name, op_selection=None)
        )

    def wait(self, run_ids: list[str], on_poll: Callable[[], None] = lambda: None) -> dict[str, dg.DagsterRun]:
        """Blocks until every run has finished (calling `on_poll` between looks); returns them by id."""
        while True:
            on_poll()
            runs = {run_id: self.instance.get_run_by_id(run_id) for run_id in run_ids}
            if all(run.is_finished for run in runs.values()):
                return runs
            time.sleep(POLL_S)


@contextmanager
def code_location(instance: dg.DagsterInstance, output: Path) -> Iterator[Launcher]:
    """Starts the code server from the current directory with this process's environment; it and the run
    workers it starts write their console to `output` instead of the terminal."""
    output.parent.mkdir(parents=True, exist_ok=True)
    target = ModuleTarget(MODULE, None, os.getcwd(), LOCATION)
    with _console_to(output):
        # The code server starts here and inherits the redirected console (and passes it to its run workers).
        context = WorkspaceProcessContext(instance, target)
    with context:
        workspace = context.create_request_context()
        if workspace.has_code_location_error(LOCATION):
            error = workspace.get_code_location_error(LOCATION)
            raise RuntimeError(f"code location {LOCATION} failed to load: {error}")
        yield Launcher(instance, workspace)


@contextmanager
def _console_to(path: Path) -> Iterator[None]:
    sys.stdout.flush()
    sys.stderr.flush()
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (target, *saved):
            os.close(fd)
