"""`acm notifications pending`: what the outbox still holds, with each message's attempts and last error."""

from __future__ import annotations

import pandas as pd

from acm_assets.cli.historian import add_database_option
from acm_assets.database import create_engine, default_database_url
from acm_assets.notifications.outbox import Outbox


def register(commands) -> None:
    parser = commands.add_parser("notifications", help="the notification outbox")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    pending = actions.add_parser("pending", help="messages not delivered yet: attempts, next attempt, last error")
    add_database_option(pending)
    pending.set_defaults(handler=_pending)


def _pending(args) -> int:
    engine = create_engine(args.database_url or default_database_url())
    outbox = Outbox(engine)
    outbox.create_table()
    waiting = outbox.pending()
    engine.dispose()
    if waiting.empty:
        print("nothing waiting: every notification was delivered")
        return 0
    print(f"{len(waiting)} notifications waiting (notification_sensor retries them with backoff)")
    for m in waiting.itertuples():
        due = f"{pd.Timestamp(m.NextAttemptAt):%Y-%m-%d %H:%M:%S}"
        error = f"; last error: {m.LastError}" if m.LastError else ""
        print(f"  {m.DedupKey}  {m.Attempts} attempts, next {due} UTC{error}")
    return 0
