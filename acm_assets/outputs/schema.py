"""The scoring output tables (names and columns follow the seed system), with explicit SQL Server types."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mssql

from acm_assets.detectors import HEADS
from acm_assets.outputs.store import OutputTable

UtcDateTime = sa.DateTime().with_variant(mssql.DATETIME2(), "mssql")
LongText = sa.Text().with_variant(mssql.NVARCHAR(None), "mssql")
RunId = sa.String(64)

metadata = sa.MetaData()


def _partition_columns() -> list[sa.Column]:
    return [
        sa.Column("EquipID", sa.Integer, primary_key=True),
        sa.Column("Day", sa.Date, nullable=False, index=True),
    ]


def _provenance_columns() -> list[sa.Column]:
    return [sa.Column("ModelVersion", sa.Integer, nullable=False), sa.Column("RunID", RunId, nullable=False)]


scores_table = sa.Table(
    "ACM_Scores_Wide",
    metadata,
    *_partition_columns(),
    sa.Column("EntryDateTime", UtcDateTime, primary_key=True),
    *[sa.Column(f"{head}_z", sa.Float) for head in HEADS],
    sa.Column("fused_z", sa.Float),
    sa.Column("health", sa.Float),
    sa.Column("severity", sa.String(16)),
    sa.Column("regime", sa.Integer),
    sa.Column("operating_state", sa.String(16)),
    sa.Column("novel", sa.Boolean),
    sa.Column("alarm", sa.Boolean, nullable=False),
    sa.Column("episode_id", sa.BigInteger),
    *_provenance_columns(),
)

episodes_table = sa.Table(
    "ACM_Episodes",
    metadata,
    *_partition_columns(),
    sa.Column("EpisodeID", sa.BigInteger, primary_key=True),
    sa.Column("StartTime", UtcDateTime, nullable=False),
    sa.Column("EndTime", UtcDateTime, nullable=False),
    sa.Column("IsOpen", sa.Boolean, nullable=False),
    sa.Column("PeakZ", sa.Float),
    sa.Column("MeanZ", sa.Float),
    sa.Column("DurationMinutes", sa.Float),
    sa.Column("Points", sa.Integer),
    sa.Column("Regime", sa.Integer),
    sa.Column("NovelShare", sa.Float),
    sa.Column("AlertShare", sa.Float),
    sa.Column("Culprits", LongText),
    *[sa.Column(f"share_{head}", sa.Float) for head in HEADS],
    # Time to a limit of an open episode (acm_assets/outputs/limits.py): the culprit it concerns, hours to the
    # crossing with its interval (High NULL: not bounded), and the status (NULL on a closed episode).
    sa.Column("LimitTag", sa.Unicode(200)),
    sa.Column("HoursToLimit", sa.Float),
    sa.Column("HoursToLimitLow", sa.Float),
    sa.Column("HoursToLimitHigh", sa.Float),
    sa.Column("LimitStatus", sa.String(16)),
    *_provenance_columns(),
)

culprits_table = sa.Table(
    "ACM_EpisodeCulprits",
    metadata,
    *_partition_columns(),
    sa.Column("EpisodeID", sa.BigInteger, primary_key=True),
    sa.Column("Rank", sa.Integer, primary_key=True),
    sa.Column("Tag", sa.Unicode(200), nullable=False),  # as HistorianData.Tag: NVARCHAR on SQL Server
    *_provenance_columns(),
)

health_table = sa.Table(
    "ACM_HealthTimeline",
    metadata,
    sa.Column("EquipID", sa.Integer, primary_key=True),
    sa.Column("Day", sa.Date, primary_key=True),
    sa.Column("Points", sa.Integer, nullable=False),
    sa.Column("MeanHealth", sa.Float),
    sa.Column("MinHealth", sa.Float),
    sa.Column("MaxFusedZ", sa.Float),
    sa.Column("CautionShare", sa.Float),
    sa.Column("AlertShare", sa.Float),
    sa.Column("Episodes", sa.Integer, nullable=False),
    *_provenance_columns(),
)

state_table = sa.Table(
    "ACM_ScoringState",
    metadata,
    sa.Column("EquipID", sa.Integer, primary_key=True),
    sa.Column("Day", sa.Date, primary_key=True),
    sa.Column("StateJSON", LongText, nullable=False),
    *_provenance_columns(),
)

OUTPUT_TABLES = {
    "ACM_Scores_Wide": OutputTable(scores_table, ("EntryDateTime",)),
    "ACM_Episodes": OutputTable(episodes_table, ("EpisodeID",)),
    "ACM_EpisodeCulprits": OutputTable(culprits_table, ("EpisodeID",)),
    "ACM_HealthTimeline": OutputTable(health_table, ("Day",)),
    "ACM_ScoringState": OutputTable(state_table, ("Day",)),
}
