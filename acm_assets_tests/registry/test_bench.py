"""The registry benchmark runs and reports every figure the issue asks for (no timing assertions)."""

import argparse

from acm_assets.bench import registry as bench


def test_registry_benchmark_reports_save_load_and_floor():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    result = bench.run(parser.parse_args(["--repeats", "1", "--postgres-url", ""]))
    sqlite = result["sqlite"]
    assert result["artifacts"] == 8
    assert sqlite["version_bytes"] > 1_000_000
    for key in ("save_ms_per_model_transactions", "save_ms_one_transaction", "floor_save_ms", "load_ms", "floor_load_ms"):
        assert sqlite[key] > 0
    assert result["postgresql"].startswith("skipped")
