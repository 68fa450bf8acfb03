"""Entry point of the `acm` console script: one sub-command module per concern."""

from __future__ import annotations

import argparse
import sys

from acm_assets.cli import CliError, demo, episodes, historian, notifications, partitions, registry
from acm_assets.database import DatabaseConnectionError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acm", description="Asset Condition Monitoring operator commands")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, episodes, historian, notifications, partitions, registry):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (CliError, DatabaseConnectionError) as exc:
        print(f"acm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
