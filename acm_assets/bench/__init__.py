"""Benchmarks printed as JSON: `python -m acm_assets.bench <name>`."""
