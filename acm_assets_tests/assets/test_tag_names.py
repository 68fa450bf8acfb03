"""Tag names are data: PI AF paths, '|', backslashes, quotes, commas, '$', unicode and 200-character names go
through the CSV import, training, scoring, culprits, the plot and the output tables as written."""

import pandas as pd

from acm_assets.cli.main import main
from acm_assets.database import create_engine
from acm_assets.ingest.historian import HistorianStore
from acm_assets.registry.schema import create_registry_table
from acm_assets.simulation.simulator import simulate
from acm_assets_tests.assets.conftest import BEARING, CODE, MIDNIGHT_FAULT, Plant

AF_BEARING = "\\\\PIAF01\\Plant\\FD_FAN|Bearing Temperature"
NAMES = {
    "FD1.06G31_DAMPER_POS": "Damper 'inlet' position, %",
    "FD1.06I03_MOTOR_CURRENT": "Pump $A$ \\alpha current",
    "FD1.06T34_OUTLET_AIR_TEMP": 'FD1.06 "Outlet" Air Temp',
    BEARING: AF_BEARING,
    "FD1.06V35_BEARING_VIB": "Schwingung Lager ① – µm/s",
    "FD1.FSAA_LEFT_INLET_FLOW": ("\\\\PIAF01\\Plant\\" + "FD_FAN\\" * 20 + "Left inlet flow " * 5)[:200],
}


def test_real_tag_names_survive_import_training_scoring_culprits_plot_and_tables(database_url, instance, tmp_path,
                                                                                   capsys):
    assert max(len(name) for name in NAMES.values()) == 200
    simulation = simulate("FD_FAN", start="2024-01-01", days=36, seed=3, faults=[MIDNIGHT_FAULT])
    export = tmp_path / "fd_fan.csv"
    simulation.frame.rename(columns=NAMES).rename_axis("TS").to_csv(export, date_format="%Y-%m-%dT%H:%M:%S")
    assert main(["equipment", "add", CODE, "--database-url", database_url]) == 0
    assert main(["import-csv", "--equip", CODE, str(export), "--database-url", database_url]) == 0, capsys.readouterr()
    engine = create_engine(database_url)
    create_registry_table(engine)
    instance.add_dynamic_partitions("equipment", [CODE])
    plant = Plant(database_url, instance, engine)
    names = [NAMES.get(tag, tag) for tag in simulation.frame.columns]
    assert list(HistorianStore(engine).get_equipment(CODE).tags) == names

    trained = plant.train()
    assert trained.success
    assert plant.registry().manifest(plant.equipment())["train_sensors"] == names
    result = plant.score("2024-02-03", "2024-02-04")
    assert result.success
    culprits = plant.table("ACM_EpisodeCulprits")
    assert AF_BEARING in set(culprits["Tag"])
    assert set(culprits["Tag"]) <= set(names)
    assert any(AF_BEARING in text for text in plant.table("ACM_Episodes")["Culprits"])
    materialized = {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("anomaly_scoring")}
    listed = materialized["anomaly_episodes"]["episodes"].value
    assert any(AF_BEARING in episode["culprits"] for episode in listed)
    assert materialized["health_timeline"]["plot"].value.startswith("![FD_FAN 2024-02-03 .. 2024-02-04")
    assert materialized["anomaly_scores"]["untrained_tags"].value == []
    scores = plant.table("ACM_Scores_Wide")
    assert len(scores) == 2 * 144 and pd.notna(scores["fused_z"]).any()
    engine.dispose()
