"""The baseline asset: each equipment's cleaned training window, with its ingest report and quality check."""


import dagster as dg
import pandas as pd

from acm_assets.detectors.episodes import FAULT_LEAD, left_out_of_retraining
from acm_assets.detectors.operating import auto_load_tag, auto_operating_tags
from acm_assets.outputs.triage import episode_key, latest_triage
from acm_assets.partitions import equipment_partitions, partitioned_check
from acm_assets.resources import AcmDatabase
from acm_assets.settings import ENSEMBLE_CONFIG

# Stores the baseline in the ACM database (readable from every host, never overwritten under a run).
TRAINING_DATA_IO_MANAGER_KEY = "training_data_io_manager"
MIN_BASELINE_ROWS = 500
MAX_MISSING_SHARE = 0.2
MIN_RUNNING_SHARE = 0.2


class BaselineWindow(dg.Config):
    """The training window: the equipment's last `days` of stored history, or a fixed [start, end) range."""

    days: int = 60
    start: str | None = None
    end: str | None = None


@dg.asset(
    partitions_def=equipment_partitions,
    group_name="ingest",
    io_manager_key=TRAINING_DATA_IO_MANAGER_KEY,
    check_specs=[
        partitioned_check(
            "baseline_quality",
            "baseline",
            equipment_partitions,
            blocking=True,
            description=(
                f"At least {MIN_BASELINE_ROWS} rows, a known cadence, no tag more than {MAX_MISSING_SHARE:.0%} "
                f"missing, the machine running at least {MIN_RUNNING_SHARE:.0%} of the window; a failure stops "
                "the run before any model is fitted."
            ),
        )
    ],
)
def baseline(context: dg.AssetExecutionContext, config: BaselineWindow, acm_database: AcmDatabase):
    """Read from the historian tables (never from files) so that training and scoring see one truth; leave
    out the spans earlier models flagged as episodes and the day before each, so a retrain never learns a
    fault (or its build-up) as normal, except those an engineer triaged as normal operation (a new season, a
    new duty): the models learn those instead of flagging them again."""
    code = context.partition_key
    historian = acm_database.historian
    start, end = _window(config, code, historian.history_range(code)[1])
    cleaned = historian.read_window(code, start, end)
    report = cleaned.report.to_metadata()
    equipment = historian.get_equipment(code)
    episodes = _episodes_in(acm_database, equipment.equip_id, start, end)
    state = episodes["id"].map(_triage_states(acm_database, equipment.equip_id))
    normal, left_out = episodes[state == "normal"], episodes[state != "normal"]
    flagged = left_out_of_retraining(cleaned.frame.index, left_out)
    frame = cleaned.frame[~flagged]
    spans = [[str(e.start), str(e.end)] for e in normal.itertuples()]
    yield dg.Output(
        frame,
        metadata={
            "equipment": code,
            "window_start": str(start),
            "window_end": str(end),
            "rows": len(frame),
            "rows_left_out_near_earlier_episodes": int(flagged.sum()),
            "earlier_episodes_left_out": len(left_out),
            # Triage decisions this baseline honours: normal spans are learned even past the contamination
            # trim; fault spans (like every episode not judged normal) are left out with the day before.
            "normal_episodes": dg.MetadataValue.json(_listed(code, normal)),
            "fault_episodes": dg.MetadataValue.json(_listed(code, episodes[state == "fault"])),
            # Recorded with the stored baseline (its fingerprint), so every model fitted on it learns them.
            **({"normal_spans": dg.MetadataValue.json(spans)} if spans else {}),
            "tags": dg.MetadataValue.json(list(frame.columns)),
            "ingest_report": dg.MetadataValue.json(report),
        },
    )
    yield baseline_quality(frame, report)


def _triage_states(database: AcmDatabase, equip_id: int) -> dict[int, str]:
    """EpisodeID -> the latest triage decision of this equipment's episodes."""
    latest = latest_triage(database.outputs.engine)
    latest = latest[latest["EquipID"] == equip_id]
    return dict(zip(latest["EpisodeID"].astype("int64"), latest["State"]))


def _listed(code: str, episodes: pd.DataFrame) -> list[dict]:
    return [{"episode": episode_key(code, e.id), "start": str(e.start), "end": str(e.end)} for e in episodes.itertuples()]


def _episodes_in(database: AcmDatabase, equip_id: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Episodes already recorded for this equipment whose span or lead overlaps [start, end)."""
    # An episode's row sits on the last day that extended it, which is never before the day it ended.
    episodes = database.outputs.read("ACM_Episodes", equip_id, start_day=start.date())
    starts = pd.to_datetime(episodes["StartTime"]).dt.tz_localize("UTC")
    ends = pd.to_datetime(episodes["EndTime"]).dt.tz_localize("UTC")
    found = pd.DataFrame({"id": episodes["EpisodeID"].astype("int64"), "start": starts, "end": ends})
    return found[(starts - FAULT_LEAD < end) & (ends >= start)].reset_index(drop=True)


def _window(config: BaselineWindow, code: str, history_end: pd.Timestamp | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end): `days` count back from the equipment's last stored point (not the wall clock) unless
    `end` is given, so a machine whose data stops last year still trains on its own last `days`."""
    if config.days < 1:
        raise dg.Failure(f"baseline: days must be at least 1, got {config.days}")
    if config.end:
        end = pd.Timestamp(config.end, tz="UTC")
    elif history_end is None:
        raise dg.Failure(f"baseline {code}: no historian data stored yet (import it with `acm import-csv --equip {code}`)")
    else:
        end = history_end + pd.Timedelta(microseconds=1)
    start = pd.Timestamp(config.start, tz="UTC") if config.start else end - pd.Timedelta(days=config.days)
    if start >= end:
        raise dg.Failure(f"baseline: window start {start} is not before its end {end}")
    return start, end


def baseline_quality(frame: pd.DataFrame, report: dict) -> dg.AssetCheckResult:
    """Enough rows, a known cadence, little missing data, and the machine actually running for a while."""
    missing = report.get("missing_share", {})
    worst_missing = max(missing.values(), default=0.0)
    running_share = _running_share(frame)
    problems = []
    if len(frame) < MIN_BASELINE_ROWS:
        problems.append(f"{len(frame)} rows < {MIN_BASELINE_ROWS}")
    if not report.get("cadence_seconds"):
        problems.append("no cadence could be inferred")
    if worst_missing > MAX_MISSING_SHARE:
        problems.append(f"a tag is {worst_missing:.0%} missing (> {MAX_MISSING_SHARE:.0%})")
    if running_share < MIN_RUNNING_SHARE:
        problems.append(f"running only {running_share:.0%} of the window (< {MIN_RUNNING_SHARE:.0%})")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "rows": len(frame),
            "cadence_seconds": report.get("cadence_seconds"),
            "worst_missing_share": float(worst_missing),
            "running_share": float(running_share),
            "problems": dg.MetadataValue.json(problems),
        },
    )


def _running_share(frame: pd.DataFrame) -> float:
    """Share of rows whose most load-like tag is above `off_fraction` of its range (the detectors' OFF rule)."""
    load_tag = auto_load_tag(auto_operating_tags(frame.columns))
    if load_tag is None or frame.empty:
        return 1.0 if not frame.empty else 0.0
    load = frame[load_tag]
    low, high = load.quantile(0.01), load.quantile(0.99)
    return float((load > low + ENSEMBLE_CONFIG.off_fraction * (high - low)).mean())
