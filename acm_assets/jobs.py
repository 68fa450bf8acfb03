"""Jobs: training (baseline and the eight models of one equipment) and scoring (equipment x day)."""

import dagster as dg

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
