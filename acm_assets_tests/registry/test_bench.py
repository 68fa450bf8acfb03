"""The registry benchmark runs and reports every figure the issue asks for (no timing assertions)."""

import argparse

from acm_assets.bench import registry as bench

FIGURES = ("save_ms_per_model_transactions", "save_ms_one_transaction", "floor_save_ms", "load_ms", "floor_load_ms")


def test_registry_benchmark_reports_save_load_and_floor(reference_dir):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = ["--repeats", "1", "--postgres-url", "", "--reference", str(reference_dir / "FD_FAN_BASELINE_DATA.csv")]
    result = bench.run(parser.parse_args(args))
    assert result["artifacts"] == 8
    assert result["sqlite"]["version_bytes"] > 1_000_000
    real = result["fd_fan_reference"]["sqlite"]
    assert real["version_bytes"] > 0
    for figures in (result["sqlite"], real):
        assert all(figures[key] > 0 for key in FIGURES)
    assert result["postgresql"].startswith("skipped")
