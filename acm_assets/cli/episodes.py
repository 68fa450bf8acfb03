"""`acm episodes list|triage`: what the models found, and an engineer's decision on it."""

from __future__ import annotations

import getpass
import math

import pandas as pd

from acm_assets.cli import CliError
from acm_assets.cli.historian import add_database_option
from acm_assets.database import create_engine, default_database_url
from acm_assets.outputs.limits import describe_time_to_limit
from acm_assets.outputs.triage import STATES, TriageError, create_triage_table, list_episodes, record_decision


def register(commands) -> None:
    parser = commands.add_parser("episodes", help="list the episodes the models found, and triage them")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="episodes, newest first, with their triage state")
    add_database_option(listing)
    listing.add_argument("--equipment", metavar="CODE", help="only this equipment")
    listing.add_argument("--open", action="store_true", help="only episodes still open")
    listing.add_argument("--triage", metavar="STATE", choices=(*STATES, "untriaged"),
                         help=f"only episodes in this state: {', '.join(STATES)} or untriaged")
    listing.set_defaults(handler=_list)
    triage = actions.add_parser("triage", help="record a decision on an episode (kept as history)")
    add_database_option(triage)
    triage.add_argument("episode", metavar="EPISODE_ID", help="CODE:EPOCH as listed (a bare EPOCH if unambiguous)")
    triage.add_argument("--as", dest="state", required=True, choices=STATES,
                        help="acknowledged: seen; fault: a real fault; normal: normal operation, learned by the "
                        "next retrain")
    triage.add_argument("--note", help="why (free text)")
    triage.add_argument("--by", dest="by", help="who decides (default: the login name)")
    triage.set_defaults(handler=_triage)


def _engine(args):
    engine = create_engine(args.database_url or default_database_url())
    create_triage_table(engine)
    return engine


def _list(args) -> int:
    engine = _engine(args)
    try:
        episodes = list_episodes(engine, args.equipment, args.open, args.triage)
    except TriageError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    if episodes.empty:
        print("no episodes" + (" match" if args.equipment or args.open or args.triage else " recorded yet"))
        return 0
    print(format_episodes(episodes))
    return 0


def format_episodes(episodes: pd.DataFrame) -> str:
    """One line per episode: ID, equipment, start, end (or open), peak z, alert share, triage, culprits and,
    for an open one, its time to a limit."""
    rows = [("EPISODE_ID", "EQUIPMENT", "START (UTC)", "END", "PEAK Z", "ALERT", "TRIAGE", "TOP CULPRITS",
             "TIME TO A LIMIT")]
    for e in episodes.itertuples():
        end = "open" if e.IsOpen else f"{pd.Timestamp(e.EndTime):%Y-%m-%d %H:%M}"
        triage = e.State or "-"
        if e.State:
            triage += f" ({e.DecidedBy})"
        rows.append((
            e.Key, e.Code, f"{pd.Timestamp(e.StartTime):%Y-%m-%d %H:%M}", end, _number(e.PeakZ, "{:.1f}"),
            _number(e.AlertShare, "{:.0%}"), triage, e.Culprits or "-",
            describe_time_to_limit(e) if e.IsOpen else "-",
        ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(str(value).ljust(width) for value, width in zip(row, widths)) + "  " + str(row[-1])
        for row in rows
    )


def _number(value, template: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else template.format(value)


def _triage(args) -> int:
    by = args.by if args.by is not None else _login()
    engine = _engine(args)
    try:
        decision = record_decision(engine, args.episode, args.state, by, args.note)
    except TriageError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    print(f"{decision.episode.key}: {decision.state} by {decision.decided_by} at "
          f"{decision.decided_at:%Y-%m-%d %H:%M:%S} UTC" + (f" ({decision.note})" if decision.note else ""))
    if decision.state == "normal":
        print("the next retrain of this equipment learns this span as normal operation")
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
