"""Smoke test of the fleet benchmark's functions (what it launches and reports, never how fast)."""

import argparse

import dagster as dg

from acm_assets.bench import fleet
from acm_assets.partitions import scoring_partitions


CODES = [f"EQ{i:04d}" for i in range(1, 8)]
DAYS = ("2024-01-15", "2024-01-16", "2024-01-17")
SCORED_DAYS = {"first_day": DAYS[0], "last_day": DAYS[-1]}


def _covered(requests) -> list[str]:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("equipment", CODES)
        return [
            key
            for request in requests
            for key in scoring_partitions.get_partition_keys_in_range(
                dg.PartitionKeyRange(request.tags[fleet.RANGE_START_TAG], request.tags[fleet.RANGE_END_TAG]),
                dynamic_partitions_store=instance,
            )
        ]


def test_scoring_runs_cover_every_equipment_day_once():
    plan = fleet.FleetPlan(CODES, baseline_days=14, days=3, concurrent_runs=2, equipment_per_scoring_run=3)
    assert len(plan.scoring()) == 3
    assert sorted(_covered(plan.scoring())) == sorted(
        dg.MultiPartitionKey({"equipment": code, "month": "2024-01"}) for code in CODES
    )
    assert all(r.run_config["ops"]["anomaly_scoring"]["config"] == SCORED_DAYS for r in plan.scoring())
    assert [r.tags["dagster/partition"] for r in plan.training()] == CODES


def test_scoring_runs_leave_out_equipment_whose_training_failed():
    plan = fleet.FleetPlan(CODES, baseline_days=14, days=3, concurrent_runs=2, equipment_per_scoring_run=3)
    trained = [code for code in CODES if code not in ("EQ0003", "EQ0004")]
    requests = plan.scoring(trained)
    assert len(requests) == 2  # EQ0001-02, then EQ0005-07: no range spans the untrained pair
    assert sorted(_covered(requests)) == sorted(
        dg.MultiPartitionKey({"equipment": code, "month": "2024-01"}) for code in trained
    )


def test_fleet_run_trains_and_scores_through_dagster():
    parser = argparse.ArgumentParser()
    fleet.add_arguments(parser)
    args = parser.parse_args(["--equipment", "1", "--days", "2", "--profiles", "in_process", "--concurrent-runs", "1"])
    report = fleet.run(args)
    profile = report["profiles"]["in_process"]
    assert profile["training"] | {"wall_seconds": None, "seconds_per_unit": None} == {
        "wall_seconds": None, "runs_launched": 1, "runs_failed": 0, "failures": [], "units": 1,
        "seconds_per_unit": None,
    }
    assert profile["equipment_not_scored"] == {}
    assert (profile["scoring"]["runs_launched"], profile["scoring"]["runs_failed"], profile["scoring"]["units"]) == (1, 0, 2)
    assert report["estimate_1000_equipment"]["from_profile"] == "in_process"
    assert set(report["direct"]) == {"training_seconds_per_equipment", "scoring_seconds_per_day"}
