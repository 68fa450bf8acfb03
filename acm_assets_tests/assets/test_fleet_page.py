"""The fleet health page: materialized through Dagster on real tables, opened in headless Chromium."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from acm_assets.assets.fleet import fleet_health_page
from acm_assets.database import create_engine
from acm_assets.definitions import build_resources
from acm_assets.ingest.historian import HistorianStore
from acm_assets.detectors import HEADS
from acm_assets.outputs.limits import ESTIMATED
from acm_assets.outputs.schema import OUTPUT_TABLES
from acm_assets.outputs.store import OutputStore
from acm_assets.outputs.triage import create_triage_table, record_decision
from acm_assets_tests.conftest import skip_or_fail

LAST_DAY = dt.date(2024, 6, 30)
FLEET = ("FD_FAN", "COND_PUMP", "GAS_TURBINE", "NEW_MOTOR")


def _health(days: int, dip_at: int | None = None) -> pd.DataFrame:
    mean = [95.0 - (40.0 if dip_at is not None and i >= dip_at else 0.0) for i in range(days)]
    return pd.DataFrame({"Points": 144, "MeanHealth": mean, "MinHealth": [m - 20 for m in mean], "MaxFusedZ": 2.0,
                         "CautionShare": 0.05, "AlertShare": [0.4 if m < 60 else 0.0 for m in mean], "Episodes": 0,
                         "ModelVersion": 1, "RunID": "r"})


def _episode(start: str, end: str, open_: bool, culprits: str, **limit) -> pd.DataFrame:
    start_time, end_time = pd.Timestamp(start), pd.Timestamp(end)
    row = {"EpisodeID": int(start_time.timestamp()), "StartTime": start_time, "EndTime": end_time, "IsOpen": open_,
           "PeakZ": 9.5, "MeanZ": 5.0, "DurationMinutes": (end_time - start_time).total_seconds() / 60, "Points": 60,
           "Regime": 0, "NovelShare": 0.0, "AlertShare": 0.8, "Culprits": culprits, "ModelVersion": 1, "RunID": "r",
           **dict.fromkeys(["LimitTag", "HoursToLimit", "HoursToLimitLow", "HoursToLimitHigh", "LimitStatus"]),
           **{f"share_{h}": 1 / len(HEADS) for h in HEADS}, **limit}
    return pd.DataFrame([row])


def make_fleet(url: str) -> None:
    """FD_FAN: an open episode heading for a limit; COND_PUMP: a closed, untriaged one; GAS_TURBINE: healthy, a
    triaged episode; NEW_MOTOR: registered, never scored."""
    engine = create_engine(url)
    historian, outputs = HistorianStore(engine), OutputStore(engine, OUTPUT_TABLES)
    historian.create_tables()
    outputs.create_tables()
    create_triage_table(engine)
    ids = {code: historian.add_equipment(code, name=f"{code.title()} 1", equip_type=code).equip_id for code in FLEET}
    days = [LAST_DAY - dt.timedelta(days=29 - i) for i in range(30)]
    for code, dip in (("FD_FAN", 27), ("COND_PUMP", None), ("GAS_TURBINE", None)):
        health = _health(30, dip)
        parts = [(ids[code], day, health.iloc[[i]]) for i, day in enumerate(days)]
        outputs.replace_tables({"ACM_HealthTimeline": parts})
    episodes = {
        "FD_FAN": _episode("2024-06-28 04:10", "2024-06-30 23:50", True,
                           "FD1.06T32_BEARING_TEMP, FD1.06T33_WINDING_TEMP", LimitTag="FD1.06T32_BEARING_TEMP",
                           HoursToLimit=31.0, HoursToLimitLow=22.0, HoursToLimitHigh=47.0, LimitStatus=ESTIMATED),
        "COND_PUMP": _episode("2024-06-27 10:00", "2024-06-27 16:30", False, "CP.PRESS_OUT"),
        "GAS_TURBINE": _episode("2024-06-25 02:00", "2024-06-25 05:00", False, "GT.EGT_SPREAD"),
    }
    episodes["FD_FAN"].loc[0, "Culprits"] += ", a <b>tag</b> & more"  # tag names are data, never markup
    for code, frame in episodes.items():
        outputs.replace_tables({"ACM_Episodes": [(ids[code], LAST_DAY, frame)]})
    record_decision(engine, f"GAS_TURBINE:{episodes['GAS_TURBINE']['EpisodeID'][0]}", "normal", "ana",
                    "washing the compressor")
    engine.dispose()


class _Cards(HTMLParser):
    def __init__(self):
        super().__init__()
        self.codes = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs).get("data-equipment")
        if tag == "section" and found:
            self.codes.append(found)


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        skip_or_fail("Debian's chromium is not installed (apt-get install -y chromium)")
    return found


def run_chromium(page: Path, *options: str, profile: Path) -> subprocess.CompletedProcess:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
               "--hide-scrollbars", *options, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_the_page_holds_every_equipment_worst_first_and_renders_in_chromium(database_url, tmp_path, monkeypatch):
    make_fleet(database_url)
    monkeypatch.setenv("ACM_FLEET_PAGE_DIR", str(tmp_path / "pages"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([fleet_health_page], instance=instance, resources=build_resources(database_url))
    metadata = result.asset_materializations_for_node("fleet_health_page")[0].metadata
    page = Path(metadata["path"].value)
    assert page == tmp_path / "pages" / f"fleet-health-{LAST_DAY}.html" and page.is_file()
    assert metadata["equipment"].value == 4 and metadata["equipment_open_episode"].value == 1

    dom = run_chromium(page, "--dump-dom", profile=tmp_path / "profile").stdout
    cards = _Cards()
    cards.feed(dom)
    # Worst first: the open episode, the untriaged one, the one never scored (not watched at all), the healthy one.
    assert cards.codes == ["FD_FAN", "COND_PUMP", "NEW_MOTOR", "GAS_TURBINE"]
    assert "FD1.06T32_BEARING_TEMP reaches its limit in 31 h (22-47 h)" in dom
    assert "FD_FAN:1719547800" in dom and "untriaged" in dom and ">normal<" in dom
    assert "a &lt;b&gt;tag&lt;/b&gt; &amp; more" in dom
    assert "http://" not in page.read_text() and "https://" not in page.read_text()  # nothing fetched

    shot = tmp_path / "fleet.png"
    run_chromium(page, f"--screenshot={shot}", "--window-size=1280,1600", profile=tmp_path / "profile")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
