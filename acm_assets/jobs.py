"""Jobs: training (baseline and the eight models of one equipment), scoring (equipment x month), triage and the fleet page."""

import dagster as dg

from acm_assets.outputs.triage import TriageError, record_decision
from acm_assets.resources import AcmDatabase

training_job = dg.define_asset_job(
    "training",
    selection=dg.AssetSelection.groups("ingest", "training"),
    description="Fit every detector of one equipment on its baseline and commit one ModelRegistry version.",
)

scoring_job = dg.define_asset_job(
    "scoring",
    selection=dg.AssetSelection.groups("scoring"),
    description="Score equipment days with the latest complete model version (or the one in acm/model_version).",
)

# Tags on every run the project launches (schedule, sensor, demo), shown in the Runs list: which equipment
# (a range run names its first and last) and which days a scoring run scores.
EQUIPMENT_TAG = "acm/equipment"
DAYS_TAG = "acm/days"

fleet_page_job = dg.define_asset_job(
    "fleet_page",
    selection=dg.AssetSelection.assets("fleet_health_page"),
    description="Write the fleet health page (one HTML file for the whole fleet, worst first).",
)


class TriageDecision(dg.Config):
    """The Launchpad's form of `acm episodes triage`."""

    episode: str
    """CODE:EPOCH as `acm episodes list` and the episodes' metadata show it (a bare EPOCH if unambiguous)."""
    state: str
    """acknowledged, fault or normal (normal: the next retrain learns the span as normal operation)."""
    decided_by: str
    note: str = ""


@dg.op(description="Record a triage decision on an episode in ACM_EpisodeTriage (kept as history).")
def record_triage(context: dg.OpExecutionContext, config: TriageDecision, acm_database: AcmDatabase) -> dg.Output:
    """Refusals (unknown episode, bad state, no name) fail the run naming the problem; nothing is written."""
    try:
        decision = record_decision(acm_database.outputs.engine, config.episode, config.state, config.decided_by,
                                   config.note)
    except TriageError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(f"{decision.episode.key}: {decision.state} by {decision.decided_by}")
    return dg.Output(None, metadata={"episode": decision.episode.key, "state": decision.state,
                                     "decided_by": decision.decided_by, "note": decision.note or ""})


@dg.job(name="triage", description="Triage an episode from the Launchpad: acknowledged, fault or normal, with who and a note.")
def triage_job():
    record_triage()
