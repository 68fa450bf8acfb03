"""The fleet health page: one self-contained HTML file (inline CSS and SVG, nothing fetched) that a reliability
engineer reads in the morning: every equipment, worst first, with its latest health, its open and recent
episodes (culprits, triage state, time to a limit) and its health over the last weeks.

Worst first means: an open episode, then an untriaged episode of the last days, then equipment whose scoring
has fallen behind the fleet's, then the rest; within each, the lowest health (the latest day's mean) first.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from acm_assets.detectors.health import HEALTH_AT_ALERT, HEALTH_AT_CAUTION
from acm_assets.ingest.historian import Equipment, HistorianStore
from acm_assets.outputs.limits import describe_time_to_limit
from acm_assets.outputs.schema import episodes_table, health_table
from acm_assets.outputs.triage import episode_key, latest_triage

PLOT_DAYS = 30
RECENT_DAYS = 7
# Status, its rank (worst first) and colour.
STATUSES = {
    "open episode": (0, "#b3261e"),
    "to review": (1, "#c77700"),
    "behind": (2, "#6b5fa8"),
    "no data": (3, "#777777"),
    "ok": (4, "#2e7d32"),
}


@dataclass(frozen=True)
class EquipmentHealth:
    """What the page shows of one equipment."""

    equipment: Equipment
    status: str
    latest_day: dt.date | None
    health: pd.DataFrame  # ACM_HealthTimeline rows of the last PLOT_DAYS scored days, by day
    episodes: pd.DataFrame  # open episodes and those of the last RECENT_DAYS, newest first, with State

    @property
    def latest(self) -> pd.Series | None:
        return None if self.health.empty else self.health.iloc[-1]

    def sort_key(self) -> tuple:
        health = self.latest["MeanHealth"] if self.latest is not None else None
        unknown = health is None or pd.isna(health)
        return STATUSES[self.status][0], 101.0 if unknown else float(health), self.equipment.code


def fleet_health(engine: sa.Engine) -> list[EquipmentHealth]:
    """Every registered equipment as the output tables hold it now, worst first."""
    equipment = HistorianStore(engine).list_equipment()
    with engine.connect() as conn:
        health = pd.read_sql(sa.select(health_table).where(health_table.c.Points > 0), conn)
        last_day = _date(health["Day"].max()) if len(health) else None
        cutoff = (last_day or dt.date.today()) - dt.timedelta(days=RECENT_DAYS - 1)
        e = episodes_table
        recent = sa.or_(e.c.IsOpen == sa.true(), e.c.EndTime >= dt.datetime.combine(cutoff, dt.time()))
        episodes = pd.read_sql(sa.select(e).where(recent), conn)
    health["Day"] = pd.to_datetime(health["Day"]).dt.date
    for column in ("StartTime", "EndTime"):
        episodes[column] = pd.to_datetime(episodes[column])
    states = latest_triage(engine)[["EquipID", "EpisodeID", "State", "DecidedBy", "Note"]]
    states = states.astype({"EquipID": "int64", "EpisodeID": "int64"})
    episodes = episodes.astype({"EquipID": "int64", "EpisodeID": "int64"}).merge(
        states, how="left", on=["EquipID", "EpisodeID"]
    )
    fleet = []
    for item in equipment:
        days = health[health["EquipID"] == item.equip_id].sort_values("Day").tail(PLOT_DAYS)
        own = episodes[episodes["EquipID"] == item.equip_id].sort_values("StartTime", ascending=False)
        latest_day = days["Day"].iloc[-1] if len(days) else None
        fleet.append(EquipmentHealth(item, _status(own, latest_day, last_day), latest_day, days, own))
    return sorted(fleet, key=EquipmentHealth.sort_key)


def _status(episodes: pd.DataFrame, latest_day: dt.date | None, fleet_day: dt.date | None) -> str:
    if latest_day is None:
        return "no data"
    if episodes["IsOpen"].astype(bool).any():
        return "open episode"
    if episodes["State"].isna().any():
        return "to review"
    if latest_day < fleet_day:
        return "behind"
    return "ok"


def _date(value) -> dt.date:
    return pd.Timestamp(value).date()


def render_fleet_page(fleet: list[EquipmentHealth], generated_at: dt.datetime) -> str:
    """The page's HTML."""
    counts = {status: sum(item.status == status for item in fleet) for status in STATUSES}
    days = [item.latest_day for item in fleet if item.latest_day is not None]
    as_of = f"scored up to {max(days)}" if days else "nothing scored yet"
    chips = "".join(
        f'<span class="chip" style="background:{STATUSES[s][1]}">{n} {html.escape(s)}</span>'
        for s, n in counts.items() if n
    )
    cards = "\n".join(_card(item, max(days) if days else None) for item in fleet)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Fleet health, {html.escape(as_of)}</title>
<style>{CSS}</style></head>
<body>
<header><h1>Fleet health</h1>
<p class="sub">{len(fleet)} equipment, {html.escape(as_of)}; page made {generated_at:%Y-%m-%d %H:%M} UTC.
Worst first: open episodes, then episodes of the last {RECENT_DAYS} days nobody has triaged, then equipment whose
scoring is behind.</p>
<p>{chips}</p></header>
<main>
{cards or '<p class="none">No equipment registered.</p>'}
</main>
<footer>Health: 100 normal, {HEALTH_AT_CAUTION:g} and below CAUTION, {HEALTH_AT_ALERT:g} and below ALERT
(daily mean over running time). Episode IDs are what <code>acm episodes triage ID --as acknowledged|fault|normal</code>
takes.</footer>
</body></html>
"""


def _card(item: EquipmentHealth, fleet_day: dt.date | None) -> str:
    code = html.escape(item.equipment.code)
    colour = STATUSES[item.status][1]
    name = " · ".join(html.escape(x) for x in (item.equipment.name, item.equipment.equip_type) if x)
    latest = item.latest
    if latest is None:
        figures = '<div class="figure"><span class="big">-</span><span>not scored yet</span></div>'
    else:
        behind = "" if item.latest_day == fleet_day else f' <b class="warn">(fleet: {fleet_day})</b>'
        figures = (
            f'<div class="figure"><span class="big" style="color:{_health_colour(latest["MeanHealth"])}">'
            f'{_number(latest["MeanHealth"])}</span><span>mean health on {item.latest_day}{behind}</span></div>'
            f'<div class="figure"><span class="mid">{len(item.episodes)}</span><span>episodes, last {RECENT_DAYS} '
            f"days</span></div>"
            f'<div class="figure"><span class="mid">{_percent(latest["AlertShare"])}</span><span>time in ALERT'
            f"</span></div>"
        )
    return f"""<section class="card" id="{code}" data-equipment="{code}" style="border-left-color:{colour}">
<div class="head"><h2>{code}</h2><span class="name">{name}</span>
<span class="status" style="background:{colour}">{html.escape(item.status)}</span></div>
{_attention(item)}
<div class="row">{figures}<div class="plot">{_sparkline(item.health)}</div></div>
{_episodes_table(item)}
</section>"""


def _attention(item: EquipmentHealth) -> str:
    """The card's first line: what the engineer should look at, in words."""
    opened = item.episodes[item.episodes["IsOpen"].astype(bool)]
    if len(opened):
        e = opened.iloc[0]
        culprit = (e["Culprits"] or "").split(", ")[0] or "no culprit named"
        return (f'<p class="attention">Open episode since {e["StartTime"]:%b %d %H:%M}, led by '
                f"<b>{html.escape(culprit)}</b>: {html.escape(describe_time_to_limit(e))}.</p>")
    untriaged = item.episodes[item.episodes["State"].isna()]
    if len(untriaged):
        many = "episodes" if len(untriaged) > 1 else "episode"
        return f'<p class="review">{len(untriaged)} {many} of the last {RECENT_DAYS} days not triaged yet.</p>'
    return ""


def _episodes_table(item: EquipmentHealth) -> str:
    if item.episodes.empty:
        return f'<p class="none">No episode open or in the last {RECENT_DAYS} days.</p>'
    rows = []
    for e in item.episodes.itertuples():
        is_open = bool(e.IsOpen)
        when = f"<b>open</b> since {e.StartTime:%b %d %H:%M}" if is_open else (
            f"{e.StartTime:%b %d %H:%M} .. {e.EndTime:%b %d %H:%M}")
        state = e.State if isinstance(e.State, str) else "untriaged"
        decided = ""
        if isinstance(e.State, str):
            note = f": {html.escape(e.Note)}" if isinstance(e.Note, str) else ""
            decided = f"<br><small>by {html.escape(str(e.DecidedBy))}{note}</small>"
        limit = describe_time_to_limit(e._asdict()) if is_open else "closed"
        key = html.escape(episode_key(item.equipment.code, e.EpisodeID))
        rows.append(
            f'<tr class="{"open" if is_open else "closed"}"><td class="id">{key}</td>'
            f"<td>{when}<br><small>{_hours(e.DurationMinutes)}</small></td>"
            f"<td>{e.PeakZ:.1f}</td><td>{html.escape(e.Culprits or '-')}</td>"
            f'<td><span class="triage {state}">{html.escape(state)}</span>{decided}</td>'
            f"<td>{html.escape(limit)}</td></tr>"
        )
    widths = "".join(f'<col style="width:{w}%">' for w in (17, 15, 6, 28, 14, 20))
    return (f"<table><colgroup>{widths}</colgroup><thead><tr><th>episode</th><th>when</th><th>peak z</th>"
            "<th>culprits (top first)</th><th>triage</th><th>time to a limit</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _sparkline(health: pd.DataFrame, width: int = 420, height: int = 96) -> str:
    """Daily mean health of the last PLOT_DAYS scored days over the GOOD / CAUTION / ALERT bands, a red mark
    under each day with an episode."""
    if health.empty:
        return ""
    pad_left, pad_bottom = 26, 14
    inner_w, inner_h = width - pad_left - 4, height - pad_bottom - 10
    n = len(health)

    def x(i: int) -> float:
        return pad_left + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y(value: float) -> float:
        return 4 + inner_h * (1 - max(0.0, min(100.0, value)) / 100)

    bands = "".join(
        f'<rect x="{pad_left}" y="{y(top):.1f}" width="{inner_w}" height="{y(bottom) - y(top):.1f}" fill="{colour}"/>'
        for top, bottom, colour in (
            (100, HEALTH_AT_CAUTION, "#e6f2e6"), (HEALTH_AT_CAUTION, HEALTH_AT_ALERT, "#fbefd9"),
            (HEALTH_AT_ALERT, 0, "#f8dedc"),
        )
    )
    mean = health["MeanHealth"].tolist()
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(mean) if not pd.isna(v))
    marks = "".join(
        f'<rect x="{x(i) - 1.5:.1f}" y="{y(0) + 2:.1f}" width="3" height="4" fill="#b3261e"/>'
        for i, count in enumerate(health["Episodes"]) if count
    )
    labels = "".join(f'<text x="{pad_left - 3}" y="{y(v) + 3:.1f}" text-anchor="end">{v:g}</text>'
                     for v in (100, HEALTH_AT_CAUTION, HEALTH_AT_ALERT))
    first, last = health["Day"].iloc[0], health["Day"].iloc[-1]
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="daily health {first} to {last}">{bands}{labels}'
        f'<polyline points="{line}" fill="none" stroke="#1f3b73" stroke-width="1.8"/>{marks}'
        f'<text x="{pad_left}" y="{height - 2}">{first:%b %d}</text>'
        f'<text x="{width - 4}" y="{height - 2}" text-anchor="end">{last:%b %d}</text></svg>'
        f'<div class="caption">daily mean health, last {n} scored days; red marks: days with an episode</div>'
    )


def _health_colour(value) -> str:
    if pd.isna(value):
        return "#777777"
    return "#b3261e" if value <= HEALTH_AT_ALERT else "#c77700" if value <= HEALTH_AT_CAUTION else "#2e7d32"


def _number(value) -> str:
    return "-" if pd.isna(value) else f"{value:.0f}"


def _percent(value) -> str:
    return "-" if pd.isna(value) else f"{100 * value:.0f} %"


def _hours(minutes) -> str:
    hours = float(minutes) / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;background:#f4f5f7;color:#1d1d1f}
header{padding:18px 28px 6px}h1{margin:0 0 4px;font-size:26px}.sub{margin:0 0 8px;color:#555;font-size:14px}
.chip{display:inline-block;color:#fff;border-radius:12px;padding:3px 10px;margin-right:6px;font-size:14px}
main{padding:4px 28px 8px}
.card{background:#fff;border-left:8px solid #777;border-radius:6px;margin:0 0 14px;padding:12px 16px;
box-shadow:0 1px 2px rgba(0,0,0,.12)}
.head{display:flex;align-items:baseline;gap:12px}.head h2{margin:0;font-size:21px}.name{color:#666;font-size:14px}
.status{margin-left:auto;color:#fff;border-radius:4px;padding:2px 10px;font-size:14px;font-weight:600}
.row{display:flex;align-items:center;gap:26px;margin:8px 0}
.figure{display:flex;flex-direction:column;min-width:84px;font-size:13px;color:#555}
.big{font-size:38px;font-weight:700;line-height:1.05}.mid{font-size:24px;font-weight:600;color:#1d1d1f}
.plot{margin-left:auto}.plot text{font-size:10px;fill:#666}.warn{color:#6b5fa8}
table{border-collapse:collapse;width:100%;font-size:14px;margin-top:4px;table-layout:fixed}
.attention{margin:6px 0 0;font-size:16px;color:#b3261e}.review{margin:6px 0 0;font-size:15px;color:#8a5300}
.caption{font-size:11px;color:#777;text-align:center}td{overflow-wrap:anywhere}
th{text-align:left;color:#555;font-weight:600;border-bottom:1px solid #ddd;padding:4px 8px}
td{border-bottom:1px solid #eee;padding:5px 8px;vertical-align:top}tr.open td{background:#fdf1f0}
td.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.triage{border-radius:4px;padding:1px 7px;font-size:13px;background:#eee}
.triage.untriaged{background:#ffe9c7}.triage.fault{background:#f6c9c5}.triage.normal{background:#d6ecd7}
.none{color:#666;font-size:14px;margin:4px 0}footer{padding:6px 28px 20px;color:#666;font-size:13px}
"""
