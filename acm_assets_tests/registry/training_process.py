"""A separate training process for the concurrency and kill -9 tests.

`python -m acm_assets_tests.registry.training_process URL [--partition P] [--hang-after-manifest MARKER]`
materializes the stand-in training assets once and prints {"run_id", "success"}. With
--hang-after-manifest the process writes MARKER and sleeps right after inserting a manifest row, i.e. inside
the committing transaction, so a test can kill it there.
"""

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from acm_assets.database import create_engine
from acm_assets.registry.equipment import EquipmentResolver
from acm_assets.registry.io_manager import ModelRegistryIOManager
from acm_assets.registry.store import MANIFEST, ModelStore
from acm_assets_tests.registry.stand_in import IO_MANAGER_KEY, MODEL_TYPES, StandInModel, training_assets


def hang_after_manifest(marker: str):
    def after_execute(conn, clauseelement, multiparams, params, execution_options, result):
        if isinstance(clauseelement, sa.Insert) and any(row.get("ModelType") == MANIFEST for row in [*multiparams, params]):
            Path(marker).write_text(str(os.getpid()))
            time.sleep(120)

    return after_execute


def train_with_dagster(url: str, partition: str) -> dict:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("equipment", [partition])
    result = dg.materialize(
        training_assets,
        partition_key=partition,
        instance=instance,
        resources={IO_MANAGER_KEY: ModelRegistryIOManager(database_url=url)},
        raise_on_error=False,
    )
    return {"run_id": result.run_id, "success": result.success}


def train_with_store(url: str, partition: str, runs: int) -> list[str]:
    """Store-level training runs (no Dagster start-up cost), for high-contention concurrency tests."""
    engine = create_engine(url)
    store = ModelStore(engine)
    equipment = EquipmentResolver(engine).resolve(partition)
    run_ids = []
    for _ in range(runs):
        run_id = str(uuid.uuid4())
        for model_type in MODEL_TYPES:
            store.save(
                equipment,
                model_type,
                StandInModel(model_type, partition, run_id, 1.0),
                run_id=run_id,
                root_run_id=run_id,
                expected_types=MODEL_TYPES,
            )
        run_ids.append(run_id)
    engine.dispose()
    return run_ids


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--partition", default="FD_FAN")
    parser.add_argument("--hang-after-manifest", metavar="MARKER")
    parser.add_argument("--store-runs", type=int, help="train through ModelStore this many times instead")
    args = parser.parse_args(argv)
    if args.hang_after_manifest:
        sa.event.listen(sa.Engine, "after_execute", hang_after_manifest(args.hang_after_manifest))
    if args.store_runs:
        print(json.dumps({"run_ids": train_with_store(args.url, args.partition, args.store_runs)}))
    else:
        print(json.dumps(train_with_dagster(args.url, args.partition)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
