"""`python -m acm_assets.bench pipeline` at a tiny size: the JSON it prints and the scratch it cleans up."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from acm_assets.bench import pipeline

POINTS_PER_DAY = 144  # the benchmark's 10-minute cadence
TINY = ("--train-days", "20", "--score-days", "2", "--repeats", "1")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    pipeline.add_arguments(parser)
    return parser.parse_args(list(argv))


def _check_profile(profile: dict) -> None:
    history, training, backfill = profile["history"], profile["training"], profile["scoring_backfill"]
    assert history["days"] == 22
    assert history["points"] == history["days"] * POINTS_PER_DAY * history["tags"]
    assert training["baseline_rows"] == 20 * POINTS_PER_DAY
    assert training["model_version"] == 1  # one training run, one committed registry version
    assert len(training["dagster_run_samples_s"]) == len(training["direct_fit_samples_s"]) == 1
    assert training["dagster_run_s"] > 0 and training["direct_fit_s"] > 0
    assert training["overhead_ratio"] == pytest.approx(training["dagster_run_s"] / training["direct_fit_s"], rel=0.01)
    assert isinstance(training["within_target"], bool)
    assert (backfill["runs"], backfill["days"], backfill["scored_days"]) == (1, 2, 2)
    assert backfill["score_rows"] == 2 * POINTS_PER_DAY
    assert (backfill["first_day"], backfill["last_day"]) == ("2024-01-21", "2024-01-22")
    assert backfill["dagster_events"] > 3 + 1  # at least the month's three materializations and its check
    assert backfill["direct_score_s"] > 0 and backfill["day_by_day_without_dagster_s"] > 0
    assert 0 <= backfill["run_creation_s"] < backfill["wall_s"]
    assert profile["launched_training_runs"] == "skipped"


def test_tiny_embedded_pipeline_benchmark():
    environment = dict(os.environ)

    result = pipeline.run(_args(*TINY, "--skip-launched", "--postgres-url", ""))

    assert json.loads(json.dumps(result)) == result
    assert os.environ == environment  # ACM_HOME, ACM_DATABASE_URL and DAGSTER_HOME are put back
    assert result["machine"]["sqlite_commit_ms"] > 0
    _check_profile(result["embedded"])
    assert result["postgresql"] == "skipped: no --postgres-url and no $ACM_TEST_POSTGRES_URL"


def test_tiny_postgresql_profile(postgres_server_url):
    result = pipeline.run(_args(*TINY, "--skip-launched", "--postgres-url", postgres_server_url))

    assert json.loads(json.dumps(result)) == result
    _check_profile(result["embedded"])
    _check_profile(result["postgresql"])


def test_sizes_must_be_at_least_one():
    with pytest.raises(ValueError, match="must be at least 1, got 0, 365 and 3"):
        pipeline.run(_args("--train-days", "0"))
