"""A small fleet with recorded episodes, as scoring writes them (including the demo's clash: one epoch that is
an episode of two machines)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from acm_assets.database import create_engine
from acm_assets.ingest.historian import HistorianStore
from acm_assets.outputs.schema import OUTPUT_TABLES, episodes_table
from acm_assets.outputs.store import OutputStore
from acm_assets.outputs.triage import create_triage_table

CLASH = 1714551600  # 2024-05-01 08:20 UTC: an episode of COND_PUMP and of GAS_TURBINE
FAN_EPISODE = 1714736400


# The open turbine episode's culprit heads for its limit.
TURBINE_LIMIT = {"LimitTag": "TAG_A", "HoursToLimit": 14.0, "HoursToLimitLow": 9.0, "HoursToLimitHigh": 23.0,
                 "LimitStatus": "estimated"}


def episode_row(episode_id: int, hours: float, *, open_: bool = False, peak: float = 6.0,
                culprits: str = "TAG_A, TAG_B", **columns) -> dict:
    start = pd.Timestamp(episode_id, unit="s")
    row = {c.name: None for c in episodes_table.columns if c.name not in ("EquipID", "Day")}
    row.update(EpisodeID=episode_id, StartTime=start, EndTime=start + pd.Timedelta(hours=hours), IsOpen=open_,
               PeakZ=peak, MeanZ=peak / 2, DurationMinutes=hours * 60, Points=int(hours * 6), AlertShare=0.5,
               Culprits=culprits, ModelVersion=1, RunID="run", **columns)
    return row


def write_episodes(engine: sa.Engine, equip_id: int, rows: list[dict]) -> None:
    by_day: dict[dt.date, list[dict]] = {}
    for row in rows:
        by_day.setdefault(pd.Timestamp(row["EndTime"]).date(), []).append(row)
    OutputStore(engine, OUTPUT_TABLES).replace_tables(
        {"ACM_Episodes": [(equip_id, day, pd.DataFrame(part)) for day, part in by_day.items()]}
    )


def make_fleet(url: str) -> sa.Engine:
    engine = create_engine(url)
    historian = HistorianStore(engine)
    historian.create_tables()
    OutputStore(engine, OUTPUT_TABLES).create_tables()
    create_triage_table(engine)
    ids = {code: historian.add_equipment(code).equip_id for code in ("FD_FAN", "COND_PUMP", "GAS_TURBINE")}
    write_episodes(engine, ids["FD_FAN"], [episode_row(FAN_EPISODE, 5, culprits="FD1.BEARING_TEMP")])
    write_episodes(engine, ids["COND_PUMP"], [episode_row(CLASH, 3)])
    write_episodes(engine, ids["GAS_TURBINE"], [episode_row(CLASH, 30, open_=True, peak=9.0, **TURBINE_LIMIT)])
    return engine
