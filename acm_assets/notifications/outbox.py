"""`ACM_NotificationOutbox`: every message is written here before anyone sends it, and stays until delivered.

A message is one change of one episode for one channel, named by a `DedupKey`, so enqueueing the same change
again (a tick that died before saving its cursor) adds nothing. A sender claims a message for a lease before
sending it, so two ticks never send it both and the claim of a killed tick runs out; a failure is retried
with exponential backoff and its error stays on the row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from acm_assets.ingest.historian import EQUIP_CODE_LENGTH
from acm_assets.outputs.schema import LongText, UtcDateTime, metadata

CLAIM_LEASE = dt.timedelta(minutes=2)
FIRST_RETRY = dt.timedelta(seconds=30)
LAST_RETRY = dt.timedelta(minutes=30)

outbox_table = sa.Table(
    "ACM_NotificationOutbox",
    metadata,
    sa.Column("MessageID", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("DedupKey", sa.String(255), nullable=False),
    sa.Column("Channel", sa.String(16), nullable=False),
    sa.Column("EquipID", sa.Integer, nullable=False),
    sa.Column("EquipCode", sa.String(EQUIP_CODE_LENGTH), nullable=False),
    sa.Column("EpisodeID", sa.BigInteger, nullable=False),
    sa.Column("Kind", sa.String(16), nullable=False),
    sa.Column("Subject", sa.Unicode(400), nullable=False),
    sa.Column("Text", LongText, nullable=False),
    sa.Column("CreatedAt", UtcDateTime, nullable=False),
    sa.Column("NextAttemptAt", UtcDateTime, nullable=False),
    sa.Column("Attempts", sa.Integer, nullable=False, default=0),
    sa.Column("LastError", LongText),
    sa.Column("ClaimedBy", sa.String(36)),
    sa.Column("ClaimedUntil", UtcDateTime),
    sa.Column("DeliveredAt", UtcDateTime),
    # Messages sent together (a digest under the rate limit) share one delivery.
    sa.Column("DeliveryID", sa.String(36)),
    sa.UniqueConstraint("DedupKey", name="UQ_ACM_NotificationOutbox_DedupKey"),
    sa.Index("IX_ACM_NotificationOutbox_Pending", "DeliveredAt", "NextAttemptAt"),
)


@dataclass(frozen=True)
class Message:
    """One change of one episode, for one channel."""

    dedup_key: str
    channel: str
    equip_id: int
    code: str
    episode_id: int
    kind: str
    subject: str
    text: str


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def backoff(attempts: int) -> dt.timedelta:
    """30 s after the first failure, doubling, at most 30 min."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)


class Outbox:
    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def create_table(self) -> None:
        outbox_table.create(self.engine, checkfirst=True)

    def enqueue(self, messages: list[Message], now: dt.datetime | None = None) -> int:
        """Add the messages not there yet (by DedupKey); returns how many were new."""
        if not messages:
            return 0
        now = now or utcnow()
        t = outbox_table
        with self.engine.begin() as conn:
            keys = [m.dedup_key for m in messages]
            present = set()
            for start in range(0, len(keys), 500):
                present |= set(conn.execute(sa.select(t.c.DedupKey).where(t.c.DedupKey.in_(keys[start:start + 500])))
                               .scalars())
            new = [m for m in dict((m.dedup_key, m) for m in messages).values() if m.dedup_key not in present]
            if new:
                conn.execute(sa.insert(t), [
                    {"DedupKey": m.dedup_key, "Channel": m.channel, "EquipID": m.equip_id, "EquipCode": m.code,
                     "EpisodeID": m.episode_id, "Kind": m.kind, "Subject": m.subject, "Text": m.text,
                     "CreatedAt": now, "NextAttemptAt": now, "Attempts": 0}
                    for m in new
                ])
        return len(new)

    def claim(self, now: dt.datetime | None = None, lease: dt.timedelta = CLAIM_LEASE) -> tuple[str, pd.DataFrame]:
        """Claim every message due now that no live claim holds; returns the claim id and the rows it holds,
        oldest first."""
        now = now or utcnow()
        claim = str(uuid.uuid4())
        t = outbox_table
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.DeliveredAt.is_(None), t.c.NextAttemptAt <= now,
                       sa.or_(t.c.ClaimedUntil.is_(None), t.c.ClaimedUntil < now))
                .values(ClaimedBy=claim, ClaimedUntil=now + lease)
            )
            rows = pd.read_sql(sa.select(t).where(t.c.ClaimedBy == claim, t.c.DeliveredAt.is_(None))
                               .order_by(t.c.MessageID), conn)
        return claim, rows

    def delivered(self, claim: str, message_ids: list[int], now: dt.datetime | None = None) -> None:
        """Mark messages sent together as delivered (only while this claim still holds them)."""
        t = outbox_table
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t).where(t.c.MessageID.in_(message_ids), t.c.ClaimedBy == claim)
                .values(DeliveredAt=now or utcnow(), DeliveryID=str(uuid.uuid4()), ClaimedBy=None, ClaimedUntil=None,
                        LastError=None)
            )

    def failed(self, claim: str, message_ids: list[int], error: str, now: dt.datetime | None = None) -> None:
        """Release the claim; each message is retried after its backoff, its error kept for whoever looks."""
        now = now or utcnow()
        t = outbox_table
        with self.engine.begin() as conn:
            for message_id, attempts in conn.execute(
                sa.select(t.c.MessageID, t.c.Attempts).where(t.c.MessageID.in_(message_ids), t.c.ClaimedBy == claim)
            ).all():
                conn.execute(
                    sa.update(t).where(t.c.MessageID == message_id)
                    .values(Attempts=attempts + 1, NextAttemptAt=now + backoff(attempts + 1), LastError=error,
                            ClaimedBy=None, ClaimedUntil=None)
                )

    def release(self, claim: str, message_ids: list[int], until: dt.datetime) -> None:
        """Give messages back unsent, due again at `until` (held by the rate limit)."""
        t = outbox_table
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t).where(t.c.MessageID.in_(message_ids), t.c.ClaimedBy == claim)
                .values(NextAttemptAt=until, ClaimedBy=None, ClaimedUntil=None)
            )

    def deliveries_since(self, since: dt.datetime) -> dict[tuple[int, str], list[dt.datetime]]:
        """(EquipID, Channel) -> times of the deliveries (a digest counts once) made after `since`."""
        t = outbox_table
        query = (
            sa.select(t.c.EquipID, t.c.Channel, t.c.DeliveryID, sa.func.min(t.c.DeliveredAt))
            .where(t.c.DeliveredAt > since)
            .group_by(t.c.EquipID, t.c.Channel, t.c.DeliveryID)
        )
        found: dict[tuple[int, str], list[dt.datetime]] = {}
        with self.engine.connect() as conn:
            for equip_id, channel, _, at in conn.execute(query):
                found.setdefault((int(equip_id), channel), []).append(at)
        return {key: sorted(times) for key, times in found.items()}

    def pending(self) -> pd.DataFrame:
        """Messages not delivered yet, oldest first, with their attempts and last error."""
        t = outbox_table
        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(t).where(t.c.DeliveredAt.is_(None)).order_by(t.c.MessageID), conn)

    def all(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(outbox_table).order_by(outbox_table.c.MessageID), conn)
