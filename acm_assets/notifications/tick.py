"""One notification tick: read the episodes scoring wrote since the last tick, put each change in the outbox,
then send what is due. The sensor saves what was told only after the messages are in the outbox, so a tick
that dies anywhere is redone by the next one without losing or repeating a message."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from acm_assets.ingest.historian import equipment_table
from acm_assets.notifications.changes import Told, changes, messages, remember
from acm_assets.notifications.delivery import DeliveryReport, deliver
from acm_assets.notifications.outbox import Outbox
from acm_assets.outputs.schema import episodes_table

FIRST_TICK_DAYS = 7


@dataclass(frozen=True)
class TickResult:
    told: Told
    changes: int
    enqueued: int
    delivery: DeliveryReport

    def summary(self) -> str:
        return f"{self.changes} episode changes, {self.enqueued} new messages; {self.delivery.summary()}"


def notify(engine: sa.Engine, told: Told, senders: dict, rate_limit: int, alert_z: float,
           now: dt.datetime | None = None) -> TickResult:
    # An episode's row moves to the last day that extended it: from the day before the last one seen on,
    # every change is read again (a day still being scored) and nothing older is.
    read_from = dt.date.fromisoformat(told.day) - dt.timedelta(days=1) if told.day else None
    episodes = read_episodes(engine, read_from)
    found = changes(episodes, told, alert_z)
    outbox = Outbox(engine)
    outbox.create_table()
    enqueued = outbox.enqueue(messages(found, sorted(senders)), now)
    told = remember(told, episodes, alert_z, read_from)
    return TickResult(told, len(found), enqueued, deliver(outbox, senders, rate_limit, now))


def first_tick(engine: sa.Engine, days: int = FIRST_TICK_DAYS) -> Told:
    """Where a sensor without a cursor starts: the last `days` scored days, not the whole history (a sensor
    switched on over years of episodes would otherwise tell them all)."""
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(episodes_table.c.Day))).scalar()
    return Told(day=(pd.Timestamp(last).date() - dt.timedelta(days=days)).isoformat() if last is not None else None)


def read_episodes(engine: sa.Engine, from_day: dt.date | None) -> pd.DataFrame:
    e = episodes_table
    query = sa.select(e, equipment_table.c.EquipCode.label("Code")).select_from(
        e.join(equipment_table, equipment_table.c.EquipID == e.c.EquipID))
    if from_day is not None:
        query = query.where(e.c.Day >= from_day)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)
