"""The health picture shown in the Dagster UI: fused z while running, OFF and start-up/stop periods shaded,
episodes coloured and listed with their culprits beside the plot (a legend, so labels never overlap)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch, PathPatch  # noqa: E402
from matplotlib.path import Path  # noqa: E402

# Operating states that are not judged: their z says nothing about the plant's condition, so it is not drawn.
STATE_SHADES = {"off": ("#d0d0d0", "OFF"), "transition": ("#f6dd9a", "start-up / stop")}
# tab20 without its greys and olives, which would read as the OFF and start-up/stop shading: its 8 dark hues, then
# their 8 light ones (neighbouring episodes never share a hue); each listed episode is also labelled E<n> on the
# plot, so two episodes of one colour are never confused.
_TAB20 = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15, 16, 17)]
EPISODE_COLOURS = _TAB20[0::2] + _TAB20[1::2]
REGIME_COLOURS = plt.get_cmap("Set2").colors
NO_REGIME = "#ffffff"
LEGEND_LINE_INCHES = 0.19
FONT_SIZE = 9
# A year at 10 minutes is 52,560 points on an 11-inch plot: drawn as this many bins (each its worst z),
# which looks the same and takes a tenth of the time.
MAX_DRAWN_POINTS = 2000
# Beside the plot, the episodes with the highest peaks (the table lists them all).
MAX_LISTED_EPISODES = 12
# An episode is drawn at least this share of the time axis wide: a 20-minute episode in a month is a hairline.
MIN_EPISODE_WIDTH = 0.006


def health_plot_png(
    scores: pd.DataFrame, episodes: pd.DataFrame, title: str, caution_z: float, alert_z: float
) -> bytes:
    """PNG bytes of one equipment's scores (a day or a run) with its episodes."""
    fig = health_figure(scores, episodes, title, caution_z, alert_z)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def health_figure(scores: pd.DataFrame, episodes: pd.DataFrame, title: str, caution_z: float, alert_z: float):
    """The figure behind `health_plot_png`: fused z, health (0-100) and the regime band on the left, the legend
    and the episodes on the right. Axes: 0 fused z, 1 regime band, 2 legend, 3 health."""
    handles = [
        plt.Line2D([], [], color="#1f3b73", lw=1, label="fused z (running)"),
        plt.Line2D([], [], color="#e0a000", lw=0.8, ls="--", label=f"CAUTION z {caution_z:g}"),
        plt.Line2D([], [], color="#c00000", lw=0.8, ls="--", label=f"ALERT z {alert_z:g}"),
    ]
    handles += [Patch(color=colour, label=label) for colour, label in STATE_SHADES.values()]
    stray = _alerts_outside_episodes(scores, episodes, alert_z)
    if len(stray):
        handles.append(plt.Line2D([], [], color="#c00000", marker="x", ls="none", ms=6,
                                  label=f"ALERT outside any episode: {len(stray)} points\n"
                                        "   (too brief to open one)"))
    regimes = _regime_codes(scores)
    handles += [Patch(color=_regime_colour(code), ec="#888888", lw=0.5, label=label)
                for code, label in regimes["legend"]]
    episode_handles = [
        Patch(color=EPISODE_COLOURS[i % len(EPISODE_COLOURS)], alpha=0.4, label=_episode_label(i, e))
        for i, e in enumerate(episodes.itertuples())
    ]
    highest = np.argsort(-episodes["peak_z"].to_numpy(), kind="stable") if len(episodes) else []
    listed = sorted(highest[:MAX_LISTED_EPISODES])
    legend_episodes = [episode_handles[i] for i in listed]
    if len(episode_handles) > len(listed):
        more = len(episode_handles) - len(listed)
        legend_episodes.append(Patch(color="none", label=f"... and {more} more (highest peaks listed)"))
    lines = sum(h.get_label().count("\n") + 1 for h in [*handles, *legend_episodes]) + 2
    fig = plt.figure(figsize=(12, max(5.5, 1.0 + LEGEND_LINE_INCHES * lines)), dpi=100)
    grid = fig.add_gridspec(3, 2, width_ratios=[3, 1.25], height_ratios=[6, 2.2, 0.7], hspace=0.1, wspace=0.03)
    ax, band, side = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[2, 0]), fig.add_subplot(grid[:, 1])
    panel = fig.add_subplot(grid[1, 0], sharex=ax)
    band.sharex(ax)
    if not scores.empty:
        state = scores["operating_state"].astype(str)
        for name, (colour, _) in STATE_SHADES.items():
            spans = _spans(scores.index, state == name)
            for axis in (ax, panel):
                _shade(axis, spans, colour)
        running_z = scores["fused_z"].where(state == "running")
        running_health = scores["health"].where(state == "running") if "health" in scores else None
        codes = regimes["codes"]
        ax.set_ylim(min(0.0, running_z.min()) if running_z.notna().any() else 0.0,
                    max(1.5 * alert_z, 1.05 * running_z.max()) if running_z.notna().any() else 1.5 * alert_z)
        if len(scores) > MAX_DRAWN_POINTS:
            bins = (np.arange(len(scores)) * MAX_DRAWN_POINTS) // len(scores)
            first = np.flatnonzero(np.diff(bins, prepend=-1))
            running_z = running_z.groupby(bins).max().set_axis(scores.index[first])
            codes = codes.groupby(bins).last().set_axis(scores.index[first])
            if running_health is not None:
                running_health = running_health.groupby(bins).min().set_axis(scores.index[first])
        ax.plot(running_z.index, running_z, lw=0.8, color="#1f3b73")
        if running_health is not None:
            panel.plot(running_health.index, running_health, lw=0.8, color="#2a7a2a")
        if len(stray):
            ax.scatter(stray.index, stray, marker="x", color="#c00000", s=22, lw=1, zorder=3)
        band.scatter(codes.index, [0] * len(codes), c=[_regime_colour(c) for c in codes], marker="|", s=200)
        span = scores.index[-1] - scores.index[0]
    else:
        span = pd.Timedelta(0)
    for i, (handle, episode) in enumerate(zip(episode_handles, episodes.itertuples())):
        start = max(episode.start, scores.index[0]) if not scores.empty else episode.start
        end = max(episode.end, start + span * MIN_EPISODE_WIDTH)  # short episodes stay visible
        ax.axvspan(start, end, color=handle.get_facecolor(), lw=0)
        if i in listed:
            ax.annotate(f"E{i + 1}", (start, 1.0), xycoords=("data", "axes fraction"), xytext=(1, 2 + 10 * (i % 3)),
                        textcoords="offset points", fontsize=FONT_SIZE - 1, color="#333333", va="bottom")
    for axis in (ax,):
        axis.axhline(caution_z, color="#e0a000", lw=0.8, ls="--")
        axis.axhline(alert_z, color="#c00000", lw=0.8, ls="--")
    ax.set_ylabel("fused z", fontsize=FONT_SIZE)
    ax.set_title(_plain(title), fontsize=FONT_SIZE + 1, loc="left", pad=34)
    ax.tick_params(labelbottom=False, labelsize=FONT_SIZE - 1)
    panel.set_ylim(0, 105)
    panel.set_yticks([0, 50, 100])
    panel.set_ylabel("health\n(0-100)", fontsize=FONT_SIZE)
    panel.tick_params(labelbottom=False, labelsize=FONT_SIZE - 1)
    band.set_yticks([])
    band.set_ylabel("regime", fontsize=FONT_SIZE, rotation=0, ha="right", va="center")
    band.tick_params(labelsize=FONT_SIZE - 1)
    band.xaxis.set_major_formatter(mdates.ConciseDateFormatter(band.xaxis.get_major_locator()))
    side.axis("off")
    heading = Patch(color="none", label=f"\nepisodes: {len(episode_handles)}"
                    + (" (shaded, labelled on the plot)" if episode_handles else ""))
    side.legend(handles=[*handles, heading, *legend_episodes], loc="upper left", fontsize=FONT_SIZE, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.07)
    return fig


def _shade(axis, spans: list[tuple[pd.Timestamp, pd.Timestamp]], colour) -> None:
    """The spans shaded over the axis' full height as one patch: an `axvspan` each cost ~3 ms, and a year
    has hundreds of stops and start-ups."""
    if not spans:
        return
    x = mdates.date2num(np.array([[start.to_datetime64(), end.to_datetime64()] for start, end in spans]))
    corners = np.stack([np.stack([x[:, 0], x[:, 0], x[:, 1], x[:, 1]], axis=1),
                        np.tile([0.0, 1.0, 1.0, 0.0], (len(x), 1))], axis=2)
    axis.add_patch(PathPatch(Path.make_compound_path_from_polys(corners), color=colour, lw=0,
                             transform=axis.get_xaxis_transform()))


def _alerts_outside_episodes(scores: pd.DataFrame, episodes: pd.DataFrame, alert_z: float) -> pd.Series:
    """Fused z of the running points at or above ALERT that no episode explains (from its onset, the evidence
    that opened it, to its end): alerts too brief to open an episode."""
    if scores.empty:
        return pd.Series(dtype=float)
    running = scores["operating_state"].astype(str) == "running"
    alert = running & (scores["fused_z"] >= alert_z)
    explained = pd.Series(False, index=scores.index)
    for episode in episodes.itertuples():
        explained |= (scores.index >= getattr(episode, "onset", episode.start)) & (scores.index <= episode.end)
    return scores.loc[alert & ~explained, "fused_z"]


def _regime_codes(scores: pd.DataFrame) -> dict:
    """Each point's regime as a small code (-1: none, the machine OFF) and the band's legend entries."""
    if scores.empty or "regime" not in scores:
        return {"codes": pd.Series(dtype=int), "legend": []}
    regime = pd.to_numeric(scores["regime"], errors="coerce")
    values = sorted(regime.dropna().unique())
    codes = regime.map({v: i for i, v in enumerate(values)}).fillna(-1).astype(int)
    legend = [(i, f"regime {int(v)}") for i, v in enumerate(values)]
    if (codes < 0).any():
        legend.append((-1, "no regime (OFF, start-up / stop)"))
    return {"codes": codes, "legend": legend}


def _regime_colour(code: int):
    return NO_REGIME if code < 0 else REGIME_COLOURS[code % len(REGIME_COLOURS)]


def _plain(text: str) -> str:
    """Text shown as written: a `$` pair would make matplotlib parse a tag name as mathtext."""
    return text.replace("$", r"\$")


def _episode_label(i: int, episode) -> str:
    culprits = "\n".join(f"   {_plain(tag)}" for tag in episode.culprits)
    return (f"E{i + 1} {episode.start:%m-%d %H:%M} .. {episode.end:%m-%d %H:%M}, peak z {episode.peak_z:.1f}"
            + (f"\n{culprits}" if culprits else ""))


def _spans(index: pd.DatetimeIndex, mask: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of each contiguous run of True in `mask`; a run ends where the next point begins."""
    flags = mask.to_numpy()
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(int)))
    ends = [index[min(stop, len(index) - 1)] for stop in edges[1::2]]
    return list(zip(index[edges[::2]], ends))


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown that the Dagster UI renders as an image ([Show Markdown]: it renders longer values in a dialog)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
