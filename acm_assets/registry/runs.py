"""Whether a run group is still running, asked of the Dagster instance that ran it (its run storage is
shared by every host), so retention and prune never delete a version a live run is still writing."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import ROOT_RUN_ID_TAG

from acm_assets.registry.store import RunLiveness


def run_group_liveness(instance: dg.DagsterInstance) -> RunLiveness:
    """True while any run of the group (the root run or a re-execution of it) is not finished; False when
    all are finished or the instance does not know the group (deleted runs, another instance)."""

    def alive(root_run_id: str) -> bool:
        runs = [
            *instance.get_runs(dg.RunsFilter(run_ids=[root_run_id])),
            *instance.get_runs(dg.RunsFilter(tags={ROOT_RUN_ID_TAG: root_run_id})),
        ]
        return any(not run.is_finished for run in runs)

    return alive
