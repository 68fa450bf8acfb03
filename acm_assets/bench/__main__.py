"""`python -m acm_assets.bench <name> [options]`: runs one benchmark and prints its JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

BENCHMARKS = {
    "ingest": "acm_assets.bench.ingest",
    "detectors": "acm_assets.bench.detectors",
    "quality": "acm_assets.bench.quality",
    "tep": "acm_assets.bench.tep",
    "registry": "acm_assets.bench.registry",
    "pipeline": "acm_assets.bench.pipeline",
    "fleet": "acm_assets.bench.fleet",
    "partitions": "acm_assets.bench.partitions",
    "limits": "acm_assets.bench.limits",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acm_assets.bench")
    commands = parser.add_subparsers(dest="benchmark", required=True)
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0] if module.__doc__ else None)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    print(json.dumps(args.run(args), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
