"""Triage decisions on episodes (acknowledged, fault, normal) in `ACM_EpisodeTriage`, and the fleet-wide
episode IDs people type.

Decisions are appended, never updated: the table is the history (who, when, why), and an episode's state is
its latest decision. An `EpisodeID` is the onset's epoch second, unique only within one equipment, so the ID
shown and typed is `CODE:EPOCH`; a bare epoch still works when exactly one episode has it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from acm_assets.ingest.historian import equipment_table
from acm_assets.outputs.schema import LongText, UtcDateTime, episodes_table, metadata

STATES = ("acknowledged", "fault", "normal")
LATEST_COLUMNS = ["EquipID", "EpisodeID", "State", "DecidedBy", "DecidedAt", "Note"]

triage_table = sa.Table(
    "ACM_EpisodeTriage",
    metadata,
    # Insertion order breaks ties between decisions made within one clock tick.
    sa.Column("DecisionID", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("EquipID", sa.Integer, nullable=False),
    sa.Column("EpisodeID", sa.BigInteger, nullable=False),
    sa.Column("State", sa.String(16), nullable=False),
    sa.Column("Note", LongText),
    sa.Column("DecidedBy", sa.Unicode(200), nullable=False),
    sa.Column("DecidedAt", UtcDateTime, nullable=False),
    sa.CheckConstraint(sa.column("State").in_(STATES), name="CK_ACM_EpisodeTriage_State"),
    sa.Index("IX_ACM_EpisodeTriage_Episode", "EquipID", "EpisodeID"),
)


class TriageError(ValueError):
    """A decision that cannot be recorded (unknown or ambiguous episode, bad state, no name): nothing changed."""


@dataclass(frozen=True)
class EpisodeRef:
    equip_id: int
    code: str
    episode_id: int

    @property
    def key(self) -> str:
        return episode_key(self.code, self.episode_id)


@dataclass(frozen=True)
class Decision:
    episode: EpisodeRef
    state: str
    note: str | None
    decided_by: str
    decided_at: dt.datetime


def episode_key(code: str, episode_id: int) -> str:
    """The fleet-wide ID of an episode: its equipment code and onset epoch, `FD_FAN:1714736400`."""
    return f"{code}:{int(episode_id)}"


def create_triage_table(engine: sa.Engine) -> None:
    triage_table.create(engine, checkfirst=True)


def resolve_episode(engine: sa.Engine, text: str) -> EpisodeRef:
    """The recorded episode `text` names: `CODE:EPOCH`, or a bare EPOCH that exactly one episode has."""
    raw = str(text).strip()
    code, _, number = raw.rpartition(":")
    try:
        episode_id = int(number)
    except ValueError:
        raise TriageError(f"episode {raw!r}: expected CODE:EPOCH (e.g. FD_FAN:1714736400) or an EPOCH") from None
    e = episodes_table
    query = (
        sa.select(equipment_table.c.EquipID, equipment_table.c.EquipCode)
        .select_from(e.join(equipment_table, equipment_table.c.EquipID == e.c.EquipID))
        .where(e.c.EpisodeID == episode_id)
        .order_by(equipment_table.c.EquipCode)
    )
    if code:
        query = query.where(equipment_table.c.EquipCode == code)
    with engine.connect() as conn:
        found = [EpisodeRef(int(equip_id), str(c), episode_id) for equip_id, c in conn.execute(query)]
    if not found:
        raise TriageError(f"episode {raw!r} is not a recorded episode (see `acm episodes list`)")
    if len(found) > 1:
        candidates = ", ".join(ref.key for ref in found)
        raise TriageError(f"episode {raw!r} names {len(found)} episodes; type one of: {candidates}")
    return found[0]


def record_decision(engine: sa.Engine, episode: str, state: str, decided_by: str, note: str | None = None,
                    decided_at: dt.datetime | None = None) -> Decision:
    """Append a decision; every check runs before the insert, so a refused one changes nothing."""
    if state not in STATES:
        raise TriageError(f"state {state!r} is not one of {', '.join(STATES)}")
    who = (decided_by or "").strip()
    if not who:
        raise TriageError("the name of who decides is empty (give --by NAME, or set USER)")
    ref = resolve_episode(engine, episode)
    when = (decided_at or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(tzinfo=None)
    text = (note or "").strip() or None
    with engine.begin() as conn:
        conn.execute(
            sa.insert(triage_table),
            {"EquipID": ref.equip_id, "EpisodeID": ref.episode_id, "State": state, "Note": text,
             "DecidedBy": who, "DecidedAt": when},
        )
    return Decision(ref, state, text, who, when)


def triage_history(engine: sa.Engine, equip_id: int | None = None) -> pd.DataFrame:
    """Every decision, oldest first."""
    t = triage_table
    query = sa.select(t).order_by(t.c.DecisionID)
    if equip_id is not None:
        query = query.where(t.c.EquipID == equip_id)
    if not sa.inspect(engine).has_table(t.name):
        return pd.DataFrame(columns=[c.name for c in t.columns])
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def latest_triage(engine: sa.Engine) -> pd.DataFrame:
    """Each triaged episode's state: its latest decision (columns LATEST_COLUMNS; empty when none yet)."""
    t = triage_table
    if not sa.inspect(engine).has_table(t.name):
        return pd.DataFrame(columns=LATEST_COLUMNS)
    latest = sa.select(sa.func.max(t.c.DecisionID)).group_by(t.c.EquipID, t.c.EpisodeID).scalar_subquery()
    query = (
        sa.select(*[t.c[c] for c in LATEST_COLUMNS])
        .where(t.c.DecisionID.in_(latest))
        .order_by(t.c.EquipID, t.c.EpisodeID)
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    frame["DecidedAt"] = pd.to_datetime(frame["DecidedAt"])
    return frame


def list_episodes(engine: sa.Engine, code: str | None = None, open_only: bool = False,
                  state: str | None = None) -> pd.DataFrame:
    """Recorded episodes, newest first, with `Code`, the fleet-wide `Key` and the triage `State` (None when
    untriaged; `state="untriaged"` selects those)."""
    if state is not None and state not in (*STATES, "untriaged"):
        raise TriageError(f"triage state {state!r} is not one of {', '.join((*STATES, 'untriaged'))}")
    e = episodes_table
    query = sa.select(e, equipment_table.c.EquipCode.label("Code")).select_from(
        e.join(equipment_table, equipment_table.c.EquipID == e.c.EquipID)
    )
    if code is not None:
        query = query.where(equipment_table.c.EquipCode == code)
    if open_only:
        query = query.where(e.c.IsOpen == sa.true())
    with engine.connect() as conn:
        frame = pd.read_sql(query.order_by(e.c.StartTime.desc(), equipment_table.c.EquipCode), conn)
    latest = latest_triage(engine)[["EquipID", "EpisodeID", "State", "DecidedBy", "DecidedAt"]]
    frame = frame.merge(latest.astype({"EquipID": "int64", "EpisodeID": "int64"}), how="left",
                        on=["EquipID", "EpisodeID"])
    frame["State"] = frame["State"].astype(object).where(frame["State"].notna(), None)
    frame.insert(0, "Key", [episode_key(c, i) for c, i in zip(frame["Code"], frame["EpisodeID"])])
    if state == "untriaged":
        frame = frame[frame["State"].isna()]
    elif state is not None:
        frame = frame[frame["State"] == state]
    return frame.reset_index(drop=True)
