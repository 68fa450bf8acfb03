"""`python -m acm_assets.bench partitions` at a tiny fleet on the real PostgreSQL server: the JSON it prints."""

from __future__ import annotations

import argparse
import json

import pytest

from acm_assets.bench import partitions

EQUIPMENT, YEARS = 3, 2
SCORE_DAYS = 30  # the one-equipment comparison; the fleet's UI backfill is still 365 days


def test_tiny_partitions_benchmark(postgres_server_url):
    parser = argparse.ArgumentParser()
    partitions.add_arguments(parser)
    args = parser.parse_args(
        ["--equipment", str(EQUIPMENT), "--years", str(YEARS), "--score-days", str(SCORE_DAYS),
         "--postgres-url", postgres_server_url]
    )

    result = partitions.run(args)

    assert json.loads(json.dumps(result)) == result
    assert (result["equipment"], result["years"]) == (EQUIPMENT, YEARS)
    assert (result["first_day"], result["last_day"]) == ("2024-01-01", "2025-12-31")
    assert result["design"].startswith("equipment (DynamicPartitionsDefinition) x month (cron '0 0 1 * *'")
    assert result["time_partitions"] == 24  # the months of 2024 and 2025
    assert result["partitions_per_asset"] == EQUIPMENT * result["time_partitions"]
    per_equipment = result["ui_materialized_partitions"] // EQUIPMENT
    assert result["ui_materialized_partitions"] == EQUIPMENT * per_equipment > 0
    assert result["materializations_written"] == 3 * result["ui_materialized_partitions"]
    # The UI's backfill of one equipment's last 365 days: one run (single_run policy), queued, never executed.
    assert (result["backfill_runs"], result["backfill_run_status"]) == (1, "QUEUED")
    # The last 365 days of 2025 are its 12 months of one equipment.
    assert result["backfill_partitions"] == 12
    assert result["backfill_run_partition_tags"] == {
        "dagster/asset_partition_range_start": "EQ0001|2025-01", "dagster/asset_partition_range_end": "EQ0001|2025-12"
    }
    # One daily run holds up to 50 trained equipment; the tick covers each equipment once.
    assert (result["schedule_runs_requested"], result["schedule_equipment_covered"]) == (1, EQUIPMENT)
    assert result["schedule_tick_status"] == "SUCCESS"
    assert result["schedule_tick_time"].startswith("2026-01-01T")  # "yesterday" is the last day partition
    # With the deployment's environment, creating a run stores one planned event per asset, not per partition.
    assert result["schedule_run_events_by_type"]["ASSET_MATERIALIZATION_PLANNED"] == 3
    assert result["backfill_run_events_by_type"]["ASSET_MATERIALIZATION_PLANNED"] == 3
    assert (result["sensor_tick_status"], result["sensor_runs_requested"]) == ("SKIPPED", 0)
    assert result["sensor_skip_reason"].count("a baseline needs") == EQUIPMENT
    # 30 days from 2024-03-01 lie in one month: one materialization per asset, one check.
    assert result["one_equipment_days"] == SCORE_DAYS
    events = result["backfill_events_by_type"]
    assert (events["ASSET_MATERIALIZATION"], events["ASSET_CHECK_EVALUATION"]) == (3, 1)
    assert sum(result["backfill_events_by_type"].values()) == result["backfill_dagster_events"]
    assert 0 < result["direct_score_365_days_s"] and 0 < result["day_by_day_without_dagster_365_days_s"]
    assert set(result["within_targets"]) == set(result["targets"])


def test_the_environment_it_measures_with_is_the_deployment_s():
    readme = (partitions.REPO_ROOT / "deploy" / "README.md").read_text()
    for name, value in partitions.DEPLOY_ENVIRONMENT.items():
        assert f"export {name}={value}" in readme


@pytest.mark.parametrize("flag", ["--equipment", "--years", "--score-days"])
def test_a_size_below_one_is_refused_naming_the_flags(flag):
    parser = argparse.ArgumentParser()
    partitions.add_arguments(parser)
    args = parser.parse_args([flag, "0", "--postgres-url", "postgresql://unused"])
    with pytest.raises(ValueError, match="--equipment, --years and --score-days must be at least 1"):
        partitions.run(args)
