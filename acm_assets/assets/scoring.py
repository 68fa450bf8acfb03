"""Scoring per equipment x day: scores, episodes, culprits, a daily health summary and the carried state.

Days of one equipment are scored in time order with the detector state carried from the previous day
(in memory within a run, through ACM_ScoringState between runs), so daily runs give the same scores and
the same episodes as one long run.
"""


import datetime as dt
import json
from collections import defaultdict

import dagster as dg
import pandas as pd

from acm_assets.detectors import HEADS, ArtifactMismatchError, DetectorEnsemble, DetectorInputError, ModelType
from acm_assets.ingest.errors import IngestError
from acm_assets.partitions import equipment_day_partitions
from acm_assets.plots import health_plot_png, png_markdown
from acm_assets.resources import AcmDatabase
from acm_assets.settings import ENSEMBLE_CONFIG

OUTPUT_IO_MANAGER_KEY = "output_table_io_manager"
# Each output's main table; scores also write the day's ACM_ScoringState row and episodes their
# ACM_EpisodeCulprits rows, in the same transaction (fewer Dagster events per scored day, too).
OUTPUT_TABLES = {
    "anomaly_scores": "ACM_Scores_Wide",
    "anomaly_episodes": "ACM_Episodes",
    "health_timeline": "ACM_HealthTimeline",
}
SCORE_COLUMNS = [f"{h}_z" for h in HEADS] + [
    "fused_z", "health", "severity", "regime", "operating_state", "novel", "alarm", "episode_id",
]
# Read this much either side of a day so cleaning (gap filling, cadence) sees what a long run would see.
READ_MARGIN = pd.Timedelta(hours=6)
# Without a stored state for the previous day, this much history warms up windows and lags.
WARM_UP = pd.Timedelta(days=1)
MAX_ALERT_SHARE = 0.2


@dg.multi_asset(
    outs={
        name: dg.AssetOut(io_manager_key=OUTPUT_IO_MANAGER_KEY, metadata={"dagster/table_name": table})
        for name, table in OUTPUT_TABLES.items()
    },
    ins={t.value: dg.AssetIn() for t in ModelType},
    partitions_def=equipment_day_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="scoring",
    check_specs=[dg.AssetCheckSpec("score_sanity", asset="anomaly_scores")],
)
def anomaly_scoring(context: dg.AssetExecutionContext, acm_database: AcmDatabase, **models):
    """Scores each day with the equipment's latest complete model version (or the run's pinned one)."""
    days_by_equipment = defaultdict(list)
    for key in context.partition_keys:
        dims = equipment_day_partitions.get_partition_key_from_str(key).keys_by_dimension
        days_by_equipment[dims["equipment"]].append(dt.date.fromisoformat(dims["day"]))

    results = {name: {} for name in OUTPUT_TABLES}
    versions, plots, listed, all_scores = {}, {}, {}, []
    for code in sorted(days_by_equipment):
        loaded = {t: _for_equipment(models[t], code) for t in models}
        version = _single_version(code, loaded)
        versions[code] = version
        try:
            ensemble = DetectorEnsemble.from_models({t: m.value for t, m in loaded.items()}, ENSEMBLE_CONFIG)
        except ArtifactMismatchError as exc:
            raise dg.Failure(f"equipment {code}, model version {version}: {exc}") from exc
        scorer = _DayScorer(acm_database, ensemble, code, version, context.run.run_id)
        day_scores = []
        for day in sorted(days_by_equipment[code]):
            key = str(dg.MultiPartitionKey({"equipment": code, "day": day.isoformat()}))
            outputs, scores = scorer.score_day(day)
            for name, value in outputs.items():
                results[name][key] = value
            day_scores.append(scores)
        scores = pd.concat(day_scores)
        episodes = scorer.ensemble.episodes(scores)
        listed[code] = [
            {"EpisodeID": int(e.episode_id), "start": str(e.start), "end": str(e.end), "peak_z": round(e.peak_z, 2),
             "culprits": e.culprits}
            for e in episodes.itertuples()
        ]
        all_scores.append(scores)
        title = f"{code}: {min(days_by_equipment[code])} .. {max(days_by_equipment[code])}, model v{version}"
        plots[code] = png_markdown(
            health_plot_png(scores, episodes, title, ENSEMBLE_CONFIG.caution_z, ENSEMBLE_CONFIG.alert_z), code
        )

    single = len(context.partition_keys) == 1
    for name in OUTPUT_TABLES:
        value = results[name]
        metadata = {
            "model_version": versions[next(iter(versions))] if len(versions) == 1 else dg.MetadataValue.json(versions),
            "rows": sum(len(v[OUTPUT_TABLES[name]]) if isinstance(v, dict) else len(v) for v in value.values()),
        }
        if name == "health_timeline":
            metadata.update({f"plot_{code}": dg.MetadataValue.md(plot) for code, plot in plots.items()})
        if name == "anomaly_episodes":  # the ids an engineer passes to the baseline's keep_episodes
            metadata["episodes"] = dg.MetadataValue.json(listed)
        yield dg.Output(next(iter(value.values())) if single else value, output_name=name, metadata=metadata)
    yield score_sanity(pd.concat(all_scores) if all_scores else pd.DataFrame(columns=SCORE_COLUMNS))


class _DayScorer:
    """Scores one equipment's days in order, carrying the detector state from day to day."""

    def __init__(self, database: AcmDatabase, ensemble: DetectorEnsemble, code: str, version: int, run_id: str):
        self.historian, self.outputs = database.historian, database.outputs
        self.ensemble, self.code, self.version, self.run_id = ensemble, code, version, run_id
        self.equip_id = self.historian.get_equipment(code).equip_id
        self.state = None
        self.state_day: dt.date | None = None

    def score_day(self, day: dt.date):
        start = pd.Timestamp(day, tz="UTC")
        end = start + pd.Timedelta(days=1)
        state = self._state_before(day, start)
        frame = self._read(start, end)
        if frame.empty:
            scores = pd.DataFrame(columns=SCORE_COLUMNS, index=pd.DatetimeIndex([], tz="UTC", name="EntryDateTime"))
        else:
            try:
                scores, state = self.ensemble.score_with_state(frame, state)
            except DetectorInputError as exc:
                raise dg.Failure(f"equipment {self.code}, day {day}, model version {self.version}: {exc}") from exc
        episodes = self.ensemble.episodes(scores)
        self.state, self.state_day = state, day
        return self._outputs(scores, episodes, state), scores

    def _read(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        first, _ = self.historian.history_range(self.code, start, end)
        if first is None:
            return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="EntryDateTime"))
        try:
            cleaned = self.historian.read_window(self.code, start - READ_MARGIN, end + READ_MARGIN, drop_constant=False)
        except IngestError as exc:
            raise dg.Failure(f"equipment {self.code}, {start:%Y-%m-%d}: {exc}") from exc
        frame = cleaned.frame
        return frame[(frame.index >= start) & (frame.index < end)]

    def _state_before(self, day: dt.date, start: pd.Timestamp):
        previous = day - dt.timedelta(days=1)
        if self.state_day == previous:
            return self.state
        stored = self.outputs.read("ACM_ScoringState", self.equip_id, previous, previous)
        if len(stored) and int(stored["ModelVersion"].iloc[0]) == self.version:
            return json.loads(stored["StateJSON"].iloc[0])
        warm = self._read(start - WARM_UP, start)
        if warm.empty:
            return None
        return self.ensemble.score_with_state(warm)[1]

    def _outputs(self, scores: pd.DataFrame, episodes: pd.DataFrame, state) -> dict:
        provenance = {"ModelVersion": self.version, "RunID": self.run_id}
        score_rows = scores[SCORE_COLUMNS].rename_axis("EntryDateTime").reset_index().assign(**provenance)
        episode_rows = pd.DataFrame(
            {
                "EpisodeID": episodes["episode_id"].astype("int64"),
                "StartTime": episodes["start"],
                "EndTime": episodes["end"],
                "IsOpen": episodes["open"].astype(bool),
                "PeakZ": episodes["peak_z"],
                "MeanZ": episodes["mean_z"],
                "DurationMinutes": pd.to_timedelta(episodes["duration"]).dt.total_seconds() / 60,
                "Points": episodes["points"],
                "Regime": episodes["regime"],
                "NovelShare": episodes["novel_share"],
                "Culprits": episodes["culprits"].map(", ".join),
                **{f"share_{h}": episodes[f"share_{h}"] for h in HEADS},
            }
        ).assign(**provenance)
        culprit_rows = pd.DataFrame(
            [
                {"EpisodeID": int(e.episode_id), "Rank": rank, "Tag": tag}
                for e in episodes.itertuples()
                for rank, tag in enumerate(e.culprits, start=1)
            ],
            columns=["EpisodeID", "Rank", "Tag"],
        ).assign(**provenance)
        running = scores["fused_z"].notna()
        health_row = pd.DataFrame(
            [
                {
                    "Points": len(scores),
                    "MeanHealth": scores["health"].mean(),
                    "MinHealth": scores["health"].min(),
                    "MaxFusedZ": scores["fused_z"].max(),
                    "CautionShare": (scores["severity"] == "CAUTION").sum() / max(int(running.sum()), 1),
                    "AlertShare": (scores["severity"] == "ALERT").sum() / max(int(running.sum()), 1),
                    "Episodes": len(episodes),
                    **provenance,
                }
            ]
        )
        state_row = pd.DataFrame(
            [{"StateJSON": json.dumps(_state_dict(state)), **provenance}] if state is not None else [],
            columns=["StateJSON", *provenance],
        )
        return {
            "anomaly_scores": {"ACM_Scores_Wide": score_rows, "ACM_ScoringState": state_row},
            "anomaly_episodes": {"ACM_Episodes": episode_rows, "ACM_EpisodeCulprits": culprit_rows},
            "health_timeline": health_row,
        }


def _state_dict(state) -> dict:
    return state if isinstance(state, dict) else state.to_dict()


def _for_equipment(loaded, code: str):
    """The registry IO manager hands one model for a one-equipment run, else {equipment code: model}."""
    return loaded[code] if isinstance(loaded, dict) else loaded


def _single_version(code: str, loaded: dict) -> int:
    versions = {m.version for m in loaded.values()}
    if len(versions) != 1:
        detail = ", ".join(f"{t}=v{m.version}" for t, m in sorted(loaded.items()))
        raise dg.Failure(f"equipment {code}: models come from different registry versions ({detail})")
    return versions.pop()


def score_sanity(scores: pd.DataFrame) -> dg.AssetCheckResult:
    """Running points always have a fused score; an ALERT share this high means a broken model or plant."""
    running = scores["operating_state"].astype(str) == "running" if len(scores) else pd.Series(dtype=bool)
    nan_running = int(scores.loc[running, "fused_z"].isna().sum()) if len(scores) else 0
    scored = scores["fused_z"].notna()
    alert_share = float((scores.loc[scored, "severity"] == "ALERT").mean()) if scored.any() else 0.0
    return dg.AssetCheckResult(
        asset_key="anomaly_scores",
        check_name="score_sanity",
        passed=nan_running == 0 and alert_share <= MAX_ALERT_SHARE,
        severity=dg.AssetCheckSeverity.ERROR if nan_running else dg.AssetCheckSeverity.WARN,
        metadata={"points": len(scores), "running_points_without_score": nan_running, "alert_share": alert_share},
    )
