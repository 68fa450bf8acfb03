"""Scoring per equipment x month partition, a day at a time: scores, episodes, culprits, a daily health summary
and the carried state, in tables keyed by day.

Days of one equipment are scored in time order with the detector state carried from the previous day
(in memory within a run, through ACM_ScoringState between runs), so daily runs give the same scores and
the same episodes as one long run. A run reports one materialization per month partition and output, with
the figures of the days it scored there and how many of the month's days are scored.
"""


import datetime as dt
import itertools
import json
import logging
from collections import defaultdict
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster._record import copy

from acm_assets.detectors import HEADS, DetectorEnsemble, ModelType
from acm_assets.ingest.cleaning import clean_frame
from acm_assets.outputs.limits import LIMIT_COLUMNS, describe_time_to_limit, episode_time_to_limit, equipment_limits
from acm_assets.outputs.store import with_days
from acm_assets.outputs.triage import episode_key
from acm_assets.partitions import FIRST_DAY_ENV, LAST_DAY_ENV, calendar, month_of, partitioned_check, scoring_partitions
from acm_assets.plots import health_plot_png, png_markdown
from acm_assets.registry.io_manager import MODEL_VERSION_TAG, ModelRegistryIOManager, pinned_version
from acm_assets.resources import AcmDatabase, TagLimits
from acm_assets.settings import ENSEMBLE_CONFIG

# Each asset's main table; scores also write the day's ACM_ScoringState row and episodes their
# ACM_EpisodeCulprits rows. A month's scored days (or one day) are written to all five tables in one transaction.
OUTPUT_TABLES = {
    "anomaly_scores": "ACM_Scores_Wide",
    "anomaly_episodes": "ACM_Episodes",
    "health_timeline": "ACM_HealthTimeline",
}
# What a month partition's green status stands for, said on every scoring asset.
GREEN_MEANS = (
    " A month shows materialized once a run has scored any of its days: its latest materialization's"
    " month_days_unscored names the days not scored (yet)."
)
DESCRIPTIONS = {
    "anomaly_scores": "Per-timestamp detector z-scores, fused z, health, severity and regime of an equipment's days.",
    "anomaly_episodes": "Anomaly episodes touching an equipment's days, with their culprit tags (continuous across days).",
    "health_timeline": "One summary row per equipment day: health, alert shares, episodes; its metadata shows the run's days.",
}
SCORE_COLUMNS = [f"{h}_z" for h in HEADS] + [
    "fused_z", "health", "severity", "regime", "operating_state", "novel", "alarm", "episode_id",
]
# Read this much either side of a day so cleaning (gap filling, cadence) sees what a long run would see.
READ_MARGIN = pd.Timedelta(hours=6)
# One query reads this much history ahead (bounded by the run's last day); each day is cleaned from it alone.
READ_AHEAD = pd.Timedelta(days=31)
# Without a stored state for the previous day, this much history warms up windows and lags.
WARM_UP = pd.Timedelta(days=1)
MAX_UNEXPLAINED_ALERT_SHARE = 0.2
# What a month's materializations summarise of its scores.
MONTH_FIGURE_COLUMNS = ["fused_z", "health", "severity", "operating_state", "alarm"]
# What the run's plot draws of its scores.
PLOT_COLUMNS = ["fused_z", "operating_state", "health", "regime"]
# A debug record per scored day for progress displays: a Python log record, not a Dagster event (a year's
# backfill would store 365 more events).
progress_log = logging.getLogger(__name__)


class ScoringDays(dg.Config):
    """Which days of the run's month partitions to score (UTC, inclusive; unset: the whole month up to
    yesterday). The daily schedule sets both to yesterday; a one-day rerun sets both to its day."""

    first_day: str | None = None
    last_day: str | None = None


def scoring_days(first_day: dt.date, last_day: dt.date) -> dict:
    """The scoring job's run config that limits a run to [first_day, last_day]."""
    days = {"first_day": first_day.isoformat(), "last_day": last_day.isoformat()}
    return {"ops": {"anomaly_scoring": {"config": days}}}


@dataclass(frozen=True)
class ScoredDay:
    day: dt.date
    scores: pd.DataFrame
    episodes: pd.DataFrame


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            name,
            deps=[t.value for t in ModelType],
            description=DESCRIPTIONS[name] + GREEN_MEANS,
            metadata={"dagster/table_name": table},
            group_name="scoring",
            # Each month is reported as its days are scored (its own figures, in day order), not at the end.
            skippable=True,
        )
        for name, table in OUTPUT_TABLES.items()
    ],
    ins={t.value: dg.AssetIn() for t in ModelType},
    partitions_def=scoring_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        partitioned_check(
            "score_sanity",
            "anomaly_scores",
            scoring_partitions,
            description=(
                "Per month, over the days the run scored (it judges the month's materialization by that run): "
                "every running point has a fused score (else ERROR), "
                f"and on each day ALERT points that no episode explains are at most {MAX_UNEXPLAINED_ALERT_SHARE:.0%} "
                "of the scored points (else WARN: isolated alarms mean a miscalibrated head or unrecognised "
                "operating states)."
            ),
        )
    ],
)
def anomaly_scoring(
    context: dg.AssetExecutionContext, config: ScoringDays, acm_database: AcmDatabase, tag_limits: TagLimits,
    model_registry_io_manager: dg.ResourceParam[ModelRegistryIOManager], **models,
):
    """Scores the selected days with each equipment's latest complete model version (or the run's pinned one),
    in day order; each month's rows are written, and its materializations and check reported, once its days
    are scored. Whatever fails for one equipment's day (its models, inputs, warm-up, state, scoring or
    writes) fails that day alone: the other days and equipment go on, and the run fails at the end naming
    each equipment, day and cause."""
    days_by_equipment = _selected_days(context.partition_keys, config)
    # The registry also serves the version that scored a rerun's first day (episode identity).
    registry = model_registry_io_manager
    pinned = pinned_version(context.run.tags) is not None
    failures: list[DayFailure] = []
    limits = tag_limits.by_equipment()
    for code in sorted(days_by_equipment):
        failures += yield from _targeting(context.instance, _score_equipment(
            acm_database, code, days_by_equipment[code], models, context.run.run_id, limits.get(code, {}),
            None if pinned else registry,
        ))
    if failures:
        raise _run_failure(failures, len(days_by_equipment))
    for output_name, spec in context.assets_def.check_specs_by_output_name.items():
        if spec.key in context.selected_asset_check_keys:  # evaluations were reported per month above
            yield dg.Output(None, output_name=output_name)


def _targeting(instance: dg.DagsterInstance, events):
    """Passes `events` on, each month's check evaluation naming the materialization it judged (reported just
    before it, as Dagster does for an AssetCheckResult): the check's Partitions tab counts a partition only
    when its evaluation targets the partition's latest materialization. Returns what `events` returns."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, dg.AssetCheckEvaluation):
            event = _targeted(instance, event)
        yield event


def _targeted(instance: dg.DagsterInstance, evaluation: dg.AssetCheckEvaluation) -> dg.AssetCheckEvaluation:
    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=evaluation.asset_key, asset_partitions=[evaluation.partition]), limit=1
    ).records
    if not latest:
        return evaluation
    target = AssetCheckEvaluationTargetMaterializationData(
        run_id=latest[0].event_log_entry.run_id, storage_id=latest[0].storage_id, timestamp=latest[0].timestamp
    )
    return copy(evaluation, target_materialization_data=target)


@dataclass(frozen=True)
class DayFailure:
    """What stopped one equipment's day (or, for a month's report, its last day) from being scored."""

    code: str
    day: dt.date
    cause: str


def _cause(exc: Exception, version: int | None) -> str:
    reason = exc.description if isinstance(exc, dg.Failure) else f"{type(exc).__name__}: {exc}"
    return reason if version is None else f"model version {version}: {reason}"


def _run_failure(failures: list[DayFailure], equipment: int) -> dg.Failure:
    """One failure naming each equipment, its failed days (consecutive days with one cause as a range) and
    the cause."""
    grouped = []
    for (code, cause), group in itertools.groupby(failures, key=lambda f: (f.code, f.cause)):
        days = [f.day for f in group]
        for span in day_ranges(days).split(", "):
            grouped.append({"equipment": code, "days": span, "cause": cause})
    lines = [f"equipment {g['equipment']}, day {g['days']}: {g['cause']}" for g in grouped]
    failed = len({f.code for f in failures})
    head = "" if equipment == 1 else f"{failed} of {equipment} equipment failed (the others are scored): "
    return dg.Failure(description=head + "; ".join(lines), metadata={"failed_days": dg.MetadataValue.json(grouped)})


def _score_equipment(database: AcmDatabase, code: str, days: list[dt.date], models: dict, run_id: str,
                     limits: dict, registry):
    """One equipment's days, month by month, reporting each month's written days; returns the days that
    failed. A failed day is skipped and the next one warms up from history, as a daily run after it would.
    Given the registry (no version pinned by the run's tag), a rerun keeps the version that scored its first
    day."""
    version = None
    try:
        loaded = {t: _for_equipment(models[t], code) for t in models}
        version = _single_version(code, loaded)
        kept = None if registry is None else kept_version(database, code, days[0])
        if kept is not None and kept != version:
            version = kept
            loaded = _kept_models(registry, code, kept, list(models), days[0])
        ensemble = DetectorEnsemble.from_models({t: m.value for t, m in loaded.items()}, ENSEMBLE_CONFIG)
        scorer = DayScorer(database, ensemble, code, version, run_id, limits, last_day=days[-1])
    except Exception as exc:  # noqa: BLE001 - the equipment's own failure, reported for each of its days
        cause = _cause(exc, version)
        return [DayFailure(code, day, cause) for day in days]
    failures, run_scored = [], []
    for month, month_days in itertools.groupby(days, key=month_of):
        key = dg.MultiPartitionKey({"equipment": code, "month": month})
        scored, states, month_failures = [], {}, []
        for day, outcome in scorer.score_days(list(month_days)):
            if isinstance(outcome, Exception):
                month_failures.append(DayFailure(code, day, _cause(outcome, version)))
                continue
            scores, episodes, states[day] = outcome
            scored.append(ScoredDay(day, scores, episodes))
        unwritten = write_days(database, scorer, scored, states)
        month_failures += [DayFailure(code, day, _cause(exc, version)) for day, exc in unwritten.items()]
        failures += sorted(month_failures, key=lambda f: f.day)
        scored = [d for d in scored if d.day not in unwritten]
        for d in scored:
            run_scored.append(d)
            progress_log.debug("scored %s %s", code, d.day)
        if not scored:
            continue
        try:
            yield from _month_report(database, scorer, key, scored, run_scored, days[-1])
        except Exception as exc:  # noqa: BLE001 - the days are written; the run still fails naming the report
            failures.append(DayFailure(code, scored[-1].day, f"reporting month {month} failed: {_cause(exc, version)}"))
    return failures


def write_days(database: AcmDatabase, scorer: "DayScorer", scored: list[ScoredDay], states: dict) -> dict:
    """Writes the scored days' rows in one transaction (one commit and one multi-row insert per table, not
    one per day); should that fail, day by day, so that only the days that fail are lost and no day is half
    written. Returns the days not written, with why."""
    if not scored:
        return {}
    try:
        database.outputs.replace_days(scorer.equip_id, [d.day for d in scored], scorer.tables(scored, states))
        return {}
    except Exception as exc:  # noqa: BLE001 - which day failed is found below
        if len(scored) == 1:
            return {scored[0].day: exc}
    unwritten = {}
    for day in scored:
        try:
            database.outputs.replace_days(scorer.equip_id, [day.day], scorer.tables([day], states))
        except Exception as exc:  # noqa: BLE001 - one day's failure never stops the others
            unwritten[day.day] = exc
    return unwritten


def _month_report(database: AcmDatabase, scorer: "DayScorer", key: dg.MultiPartitionKey, scored: list[ScoredDay],
                  run_scored: list[ScoredDay], last_day: dt.date):
    """The month's materializations and check over the days this run wrote in it; the run's plot on the month
    that holds its last day."""
    code, month = key.keys_by_dimension["equipment"], key.keys_by_dimension["month"]
    if month == month_of(last_day):
        plot = dg.MetadataValue.md(_run_plot(code, run_scored, scorer.version))
    else:
        plot = f"with this run's last day, {code} {last_day}"
    coverage = month_coverage(database, scorer.equip_id, month)
    yield from _materializations(key, scored, coverage, scorer.version, plot, scorer.ensemble.threshold_method)
    yield score_sanity(key, scored)


def _selected_days(partition_keys: list[str], config: ScoringDays) -> dict[str, list[dt.date]]:
    """Equipment code -> the days of its month partitions in this run that the config selects, in order."""
    first, last = _config_day("first_day", config.first_day), _config_day("last_day", config.last_day)
    if first and last and last < first:
        raise dg.Failure(f"scoring config: last_day {last} is before first_day {first}")
    days_by_equipment = defaultdict(list)
    for key in partition_keys:
        dims = scoring_partitions.get_partition_key_from_str(key).keys_by_dimension
        days_by_equipment[dims["equipment"]].extend(
            day for day in calendar.days_of_month(dims["month"])
            if (first is None or day >= first) and (last is None or day <= last)
        )
    if not any(days_by_equipment.values()):
        raise dg.Failure(
            f"scoring config first_day={config.first_day}, last_day={config.last_day} selects no scorable day "
            f"(up to yesterday, within ${FIRST_DAY_ENV} .. ${LAST_DAY_ENV}) of this run's partitions "
            f"{', '.join(sorted(partition_keys))}"
        )
    return {code: sorted(days) for code, days in days_by_equipment.items() if days}


def _config_day(name: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise dg.Failure(f"scoring config: {name} must be a YYYY-MM-DD day, got {value!r}") from None


def month_coverage(database: AcmDatabase, equip_id: int, month: str) -> dict[str, dict]:
    """Per asset: the rows its table holds for the month, how many of the month's scorable days are scored
    (have their health row, written with the day's scores): what the month partition stands for, and which
    model versions scored which days (a month never mixes versions unsaid)."""
    expected = calendar.days_of_month(month)
    rows = {
        name: database.outputs.rows_per_day(table, equip_id, expected[0], expected[-1])
        for name, table in OUTPUT_TABLES.items()
    }
    unscored = [day for day in expected if day not in rows["health_timeline"]]
    health = database.outputs.read("ACM_HealthTimeline", equip_id, expected[0], expected[-1])
    by_version = health.assign(Day=pd.to_datetime(health["Day"]).dt.date).groupby("ModelVersion")["Day"]
    days = {
        "month_days_scored": len(expected) - len(unscored),
        "month_days_scorable": len(expected),
        "month_days_unscored": day_ranges(unscored) or "none",
        "month_model_versions": "; ".join(f"v{v}: {day_ranges(sorted(d))}" for v, d in by_version) or "none",
    }
    return {name: {"dagster/row_count": sum(counts.values()), **days} for name, counts in rows.items()}


def day_ranges(days: list[dt.date]) -> str:
    """'2024-05-03, 2024-05-10 .. 2024-05-12': consecutive days as one range."""
    runs = []
    for _, group in itertools.groupby(enumerate(days), key=lambda pair: pair[1].toordinal() - pair[0]):
        run = [day for _, day in group]
        runs.append(str(run[0]) if len(run) == 1 else f"{run[0]} .. {run[-1]}")
    return ", ".join(runs)


def _run_plot(code: str, scored: list[ScoredDay], version: int) -> str:
    """Markdown image of this run's days of one equipment: one plot per run, as matplotlib takes ~0.1 s a
    figure (a plot per day would make a year's backfill minutes longer). It draws a few columns of the scores,
    joined one at a time (a year's whole frames took ~0.3 s), and each episode as its last day lists it (its
    latest extent: the episodes of the days' scores joined)."""
    days = [d.day for d in scored]
    scores = pd.DataFrame({c: pd.concat([d.scores[c] for d in scored]) for c in PLOT_COLUMNS})
    span = f"{days[0]} (one day)" if len(days) == 1 else f"{days[0]} .. {days[-1]} (this run's {len(days)} days)"
    title = f"{code} {span}, model v{version}"
    png = health_plot_png(scores, _latest_episodes(scored), title, ENSEMBLE_CONFIG.caution_z, ENSEMBLE_CONFIG.alert_z)
    return png_markdown(png, title)


def _latest_episodes(scored: list[ScoredDay]) -> pd.DataFrame:
    """The episodes of the days, each once: an episode spanning days is listed by each; the last day's row is its
    latest extent."""
    listed_by_day = [d.episodes for d in scored if len(d.episodes)] or [scored[-1].episodes]
    return pd.concat(listed_by_day).drop_duplicates("episode_id", keep="last")


def _materializations(key: dg.MultiPartitionKey, scored: list[ScoredDay], coverage: dict, version: int, plot,
                      threshold_method: str):
    """The month's three materializations, with the figures of the days this run scored in it."""
    tags = {f"dagster/partition/{dimension}": value for dimension, value in key.keys_by_dimension.items()}
    # Only the columns the figures read: a month's frames with every column took ~0.1 s to concatenate.
    scores = pd.concat([d.scores[MONTH_FIGURE_COLUMNS] for d in scored])
    episodes = _latest_episodes(scored)
    health = _health_summary(scores, len(episodes))
    scored_points = scores["fused_z"].notna()
    code = key.keys_by_dimension["equipment"]
    listed = [
        {"episode": episode_key(code, e.episode_id), "EpisodeID": int(e.episode_id), "kind": e.kind,
         "start": str(e.start), "end": str(e.end), "open": bool(e.open), "peak_z": round(e.peak_z, 2),
         "alert_share": round(e.alert_share, 3), "culprits": e.culprits,
         "time_to_limit": describe_time_to_limit({**e._asdict(), "IsOpen": e.open})}
        for e in episodes.itertuples()
    ]
    days = day_ranges([d.day for d in scored]) + ("" if len(scored) == 1 else f" ({len(scored)} days)")
    figures = {
        # Each figure is defined, with its unit, in docs/operations.md (Figures in the UI).
        "anomaly_scores": {
            "points": len(scores),
            "scored_points": int(scored_points.sum()),
            "running_points": int((scores["operating_state"].astype(str) == "running").sum()),
            "alert_share": _float(health["AlertShare"]),
            "episode_share": (
                _float(scores.loc[scored_points, "alarm"].astype(bool).mean()) if scored_points.any() else 0.0
            ),
            "alert_z": ENSEMBLE_CONFIG.alert_z,
            "caution_z": ENSEMBLE_CONFIG.caution_z,
            "alert_z_method": threshold_method,
            # Tags the equipment reports that the models were not trained on: read, not scored, until a retrain.
            "untrained_tags": dg.MetadataValue.json(
                sorted({tag for d in scored for tag in d.scores.attrs.get("ignored_tags", [])})
            ),
        },
        # `episode`: the ID an engineer triages (`acm episodes triage FD_FAN:1714736400 --as ...`).
        "anomaly_episodes": {"episodes_listed": len(episodes), "episodes": dg.MetadataValue.json(listed)},
        "health_timeline": {
            "points": int(health["Points"]),
            "health_min": _float(health["MinHealth"]),
            "health_mean": _float(health["MeanHealth"]),
            "max_fused_z": _float(health["MaxFusedZ"]),
            "caution_share": _float(health["CautionShare"]),
            "alert_share": _float(health["AlertShare"]),
            "episodes": len(episodes),
            "plot": plot,
        },
    }
    for name in OUTPUT_TABLES:
        yield dg.AssetMaterialization(
            asset_key=name, partition=key, tags=tags,
            metadata={"days": days, "model_version": version, **coverage[name], **figures[name]},
        )


def _health_summary(scores: pd.DataFrame, episodes: int) -> dict:
    """A health row's figures over some scored points (a day's row, or a run's days of a month)."""
    running = int(scores["fused_z"].notna().sum())
    return {
        "Points": len(scores),
        "MeanHealth": scores["health"].mean(),
        "MinHealth": scores["health"].min(),
        "MaxFusedZ": scores["fused_z"].max(),
        "CautionShare": (scores["severity"] == "CAUTION").sum() / max(running, 1),
        "AlertShare": (scores["severity"] == "ALERT").sum() / max(running, 1),
        "Episodes": episodes,
    }


def _float(value) -> float | None:
    """A JSON-safe figure: None where the days had nothing to summarise (no running point)."""
    return None if pd.isna(value) else round(float(value), 4)


class DayScorer:
    """Scores one equipment's days in order, carrying the detector state from day to day (what the asset
    does per day, without Dagster: the pipeline benchmark times it alone)."""

    def __init__(self, database: AcmDatabase, ensemble: DetectorEnsemble, code: str, version: int, run_id: str,
                 limits: dict | None = None, last_day: dt.date | None = None):
        self.historian, self.outputs = database.historian, database.outputs
        self.ensemble, self.code, self.version, self.run_id = ensemble, code, version, run_id
        equipment = self.historian.get_equipment(code)
        self.equip_id = equipment.equip_id
        # Tag limits: the historian's tag metadata, overridden by the configured ones ($ACM_TAG_LIMITS).
        self.limits = equipment_limits(code, equipment.tags, limits or {})
        self.state = None
        self.state_day: dt.date | None = None
        self.no_episodes: pd.DataFrame | None = None  # a day's episodes with the limit columns, when it has none
        # The history is read READ_AHEAD at a time, up to the last day to score (and its margin).
        self.read_end = None if last_day is None else pd.Timestamp(last_day, tz="UTC") + pd.Timedelta(days=1)
        self.history = pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="EntryDateTime"))
        self.history_span = (pd.Timestamp.max.tz_localize("UTC"), pd.Timestamp.min.tz_localize("UTC"))

    def score_day(self, day: dt.date):
        """The day's scores, episodes and the state after it; raises whatever stops the day (the asset names
        it)."""
        start = pd.Timestamp(day, tz="UTC")
        end = start + pd.Timedelta(days=1)
        state = self._state_before(day, start)
        frame = self._read(start, end)
        if frame.empty:
            scores = _no_scores()
        else:
            scores, state = self.ensemble.score_with_state(frame, state)
        episodes = self._with_time_to_limit(self.ensemble.episodes(scores))
        self.state, self.state_day = state, day
        return scores, episodes, state

    def score_days(self, days: list[dt.date]) -> list[tuple[dt.date, tuple | Exception]]:
        """Each of `days` as `score_day` scores it, in order: its (scores, episodes, state), or what stopped it.
        Consecutive days are read and cleaned one by one, then scored in one call of the ensemble, which costs
        what one day's call does (a year's backfill is 365 calls otherwise) and gives the same scores and
        states. Should anything in that fail, the days are scored one by one, so that a failure is its day's."""
        try:
            return self._scored_together(days)
        except Exception:  # noqa: BLE001 - scored again day by day, where each failure names its own day
            outcomes = []
            for day in days:
                try:
                    outcomes.append((day, self.score_day(day)))
                except Exception as exc:  # noqa: BLE001 - one day's failure never stops the others
                    outcomes.append((day, exc))
            return outcomes

    def _scored_together(self, days: list[dt.date]) -> list[tuple[dt.date, tuple]]:
        if any((later - earlier).days != 1 for earlier, later in zip(days, days[1:])):
            raise ValueError(f"days {days} are not consecutive")
        starts = [pd.Timestamp(day, tz="UTC") for day in days]
        state = self._state_before(days[0], starts[0])
        frames = [self._read(start, start + pd.Timedelta(days=1)) for start in starts]
        tags = self.ensemble.models[ModelType.regime_model].tags
        for day, frame in zip(days, frames):
            if len(frame) and not set(tags) <= set(frame.columns):
                raise ValueError(f"day {day} lacks trained tags")  # score_day names them, for that day alone
        present = [frame for frame in frames if len(frame)]
        if present:
            scores, states = self.ensemble.score_with_states(pd.concat(present), state, starts[1:])
        else:
            scores, states = _no_scores(), [state] * len(days)
        outcomes = []
        for start, day, frame, after in zip(starts, days, frames, states):
            if frame.empty:
                day_scores = _no_scores()
            else:
                day_scores = _between(scores, start, start + pd.Timedelta(days=1))
                day_scores.attrs = {"ignored_tags": [str(c) for c in frame.columns if c not in tags]}
            episodes = self._with_time_to_limit(self.ensemble.episodes(day_scores))
            outcomes.append((day, (day_scores, episodes, after)))
        self.state, self.state_day = states[-1], days[-1]
        return outcomes

    def _with_time_to_limit(self, episodes: pd.DataFrame) -> pd.DataFrame:
        """The episodes with the LIMIT_COLUMNS: an open one's estimate from the equipment's readings around it."""
        def readings(start, end):
            return self.historian.read_window(self.code, start, end + pd.Timedelta(microseconds=1),
                                              drop_constant=False).frame
        if episodes.empty and self.no_episodes is not None:
            return self.no_episodes.copy()  # most days: joining the columns to no rows cost ~1 ms a day
        # Closed episodes have no estimate, and most days have no open one: a frame per day cost ~2 ms.
        columns = {c: [None] * len(episodes) for c in LIMIT_COLUMNS}
        is_open = episodes["open"].to_numpy(dtype=bool)
        if is_open.any():
            for i, e in zip(np.flatnonzero(is_open), episodes[is_open].itertuples()):
                for c, value in episode_time_to_limit(e, self.limits, readings).items():
                    columns[c][i] = value
        # In one piece: a column set at a time cost ~1 ms a day.
        joined = pd.concat([episodes, pd.DataFrame(columns, index=episodes.index)], axis=1)
        if episodes.empty:
            self.no_episodes = joined.copy()
        return joined

    def _read(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """[start, end) cleaned with READ_MARGIN either side, exactly as `read_window` of that window would
        (the tags that have a point in it, the same gap filling), from the history read ahead."""
        window = self._history(start - READ_MARGIN, end + READ_MARGIN)
        if _between(window, start, end).empty:
            return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="EntryDateTime"))
        cleaned = clean_frame(window.dropna(axis="columns", how="all"), source=f"HistorianData[{self.code}]",
                              drop_constant=False)
        return _between(cleaned.frame, start, end)

    def _history(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        first, last = self.history_span
        if start < first or end > last:
            ahead = start + READ_AHEAD if self.read_end is None else min(start + READ_AHEAD, self.read_end)
            first, last = start, max(end, ahead + READ_MARGIN)
            self.history, self.history_span = self.historian.read_raw(self.code, first, last), (first, last)
        return _between(self.history, start, end)

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

    def tables(self, scored: list[ScoredDay], states: dict) -> dict[str, pd.DataFrame]:
        """The output rows of scored days, each with its Day: a day's rows are the same whether it is written
        alone or with others (built for many days at once: a pass per day cost about 8 s of a year's backfill on
        a loaded 2-core box, a pass per month 2 s)."""
        provenance = {"ModelVersion": self.version, "RunID": self.run_id}
        # The columns kept once for all days: a day's frame at a time cost ~3 ms a day.
        scores = with_days([(d.day, d.scores) for d in scored])[[*SCORE_COLUMNS, "Day"]]
        episodes = with_days([(d.day, d.episodes) for d in scored]).reset_index(drop=True)
        score_rows = scores.rename_axis("EntryDateTime").reset_index()
        episode_rows = pd.DataFrame(
            {
                "Day": episodes["Day"],
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
                "AlertShare": episodes["alert_share"],
                "Culprits": episodes["culprits"].map(", ".join),
                **{f"share_{h}": episodes[f"share_{h}"] for h in HEADS},
                **{c: episodes[c] for c in LIMIT_COLUMNS},
            }
        )
        culprits = episode_rows[["Day", "EpisodeID"]].assign(Tag=episodes["culprits"]).explode("Tag").dropna()
        culprit_rows = culprits.assign(Rank=culprits.groupby(level=0).cumcount() + 1)
        health_rows = pd.DataFrame([{"Day": d.day, **_health_summary(d.scores, len(d.episodes))} for d in scored])
        state_rows = pd.DataFrame(
            [{"Day": d.day, "StateJSON": json.dumps(_state_dict(states[d.day]))} for d in scored
             if states[d.day] is not None],
            columns=["Day", "StateJSON"],
        )
        tables = {
            "ACM_Scores_Wide": score_rows,
            "ACM_ScoringState": state_rows,
            "ACM_Episodes": episode_rows,
            "ACM_EpisodeCulprits": culprit_rows,
            "ACM_HealthTimeline": health_rows,
        }
        return {name: rows.assign(**provenance) for name, rows in tables.items()}


def _no_scores() -> pd.DataFrame:
    return pd.DataFrame(columns=SCORE_COLUMNS, index=pd.DatetimeIndex([], tz="UTC", name="EntryDateTime"))


def _between(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The rows of a time-sorted frame with start <= time < end."""
    return frame.iloc[frame.index.searchsorted(start) : frame.index.searchsorted(end)]


def _state_dict(state) -> dict:
    return state if isinstance(state, dict) else state.to_dict()


def _for_equipment(loaded, code: str):
    """The registry IO manager hands one model for a one-equipment run, else {equipment code: model}, where an
    equipment whose model could not be loaded has the error instead."""
    model = loaded[code] if isinstance(loaded, dict) else loaded
    if isinstance(model, Exception):
        raise model
    return model


def kept_version(database: AcmDatabase, code: str, day: dt.date) -> int | None:
    """The version a rerun starting on an already scored `day` keeps: the one that scored it, whose state the
    days before carry (a rescore under another version would warm up afresh and reopen its episodes under new
    ids). None for a day never scored: it takes the latest version."""
    equip_id = database.historian.get_equipment(code).equip_id
    scored = database.outputs.read("ACM_HealthTimeline", equip_id, day, day)
    return int(scored["ModelVersion"].iloc[0]) if len(scored) else None


def _kept_models(registry, code: str, version: int, model_types: list[str], day: dt.date) -> dict:
    try:
        return registry.load_version(code, version, model_types)
    except Exception as exc:
        raise dg.Failure(
            f"equipment {code}: {day} was scored after model version {version}, which cannot be loaded any more "
            f"({type(exc).__name__}: {exc}); rescoring it with another version splits its episodes: choose one "
            f"with the run tag {MODEL_VERSION_TAG}=N"
        ) from exc


def _single_version(code: str, loaded: dict) -> int:
    versions = {m.version for m in loaded.values()}
    if len(versions) != 1:
        detail = ", ".join(f"{t}=v{m.version}" for t, m in sorted(loaded.items()))
        raise dg.Failure(f"equipment {code}: models come from different registry versions ({detail})")
    return versions.pop()


def score_sanity(key: dg.MultiPartitionKey, days: list[ScoredDay]) -> dg.AssetCheckEvaluation:
    """The month's evaluation over the days the run scored in it, each day judged on its own (an
    AssetCheckResult cannot name a partition in a run over several). An ALERT point between an episode's onset
    and its end is explained by it: the points before the episode opened are the evidence that opened it."""
    problems, totals, worst = [], defaultdict(int), 0.0
    for day, scores, episodes in ((d.day, d.scores, d.episodes) for d in days):
        # As arrays, the episodes read a column at a time: pandas masks and itertuples cost ~1.5 s a year.
        running = scores["operating_state"].to_numpy(dtype=str) == "running"
        scored = ~np.isnan(scores["fused_z"].to_numpy(dtype=float, na_value=np.nan))
        unscored_running = int((running & ~scored).sum())
        alert = scored & (scores["severity"].to_numpy(dtype=str) == "ALERT")
        explained = np.zeros(len(scores), dtype=bool)
        for onset, end in zip(episodes["onset"], episodes["end"]):
            explained |= (scores.index >= onset) & (scores.index <= end)
        unexplained = int((alert & ~explained).sum())
        share = unexplained / int(scored.sum()) if scored.any() else 0.0
        worst = max(worst, share)
        if unscored_running:
            problems.append(f"{day}: {unscored_running} running points have no fused score")
        if share > MAX_UNEXPLAINED_ALERT_SHARE:
            problems.append(
                f"{day}: {unexplained} of {int(scored.sum())} scored points ({share:.1%}) are ALERT outside any "
                f"episode, more than {MAX_UNEXPLAINED_ALERT_SHARE:.0%}"
            )
        for name, value in (("points", len(scores)), ("scored_points", int(scored.sum())),
                            ("running_points_without_score", unscored_running), ("alert_points", int(alert.sum())),
                            ("alert_points_outside_episodes", unexplained)):
            totals[name] += value
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("anomaly_scores"),
        check_name="score_sanity",
        partition=str(key),
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if totals["running_points_without_score"] else dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={
            "days_checked": len(days),
            **totals,
            "worst_day_unexplained_alert_share": round(worst, 4),
            "unexplained_alert_share_limit": MAX_UNEXPLAINED_ALERT_SHARE,
            "problems": dg.MetadataValue.json(problems),
        },
    )
