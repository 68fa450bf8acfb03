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
from matplotlib.patches import Patch  # noqa: E402

# Operating states that are not judged: their z says nothing about the plant's condition, so it is not drawn.
STATE_SHADES = {"off": ("#d0d0d0", "OFF"), "transition": ("#f6dd9a", "start-up / stop")}
# tab10 without its grey and olive, which would read as the OFF and start-up/stop shading.
EPISODE_COLOURS = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i not in (7, 8)]
LEGEND_LINE_INCHES = 0.16
# A year at 10 minutes is 52,560 points on an 11-inch plot: drawn as this many bins (each its worst z),
# which looks the same and takes a tenth of the time.
MAX_DRAWN_POINTS = 2000
# Beside the plot, the episodes with the highest peaks (the table lists them all).
MAX_LISTED_EPISODES = 12


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
    """The figure behind `health_plot_png`: the plot on the left, its legend and the episodes on the right."""
    handles = [
        plt.Line2D([], [], color="#1f3b73", lw=1, label="fused z (running)"),
        plt.Line2D([], [], color="#e0a000", lw=0.8, ls="--", label=f"CAUTION z {caution_z:g}"),
        plt.Line2D([], [], color="#c00000", lw=0.8, ls="--", label=f"ALERT z {alert_z:g}"),
    ]
    handles += [Patch(color=colour, label=label) for colour, label in STATE_SHADES.values()]
    episode_handles = [
        Patch(color=EPISODE_COLOURS[i % len(EPISODE_COLOURS)], alpha=0.35, label=_episode_label(i, e))
        for i, e in enumerate(episodes.itertuples())
    ]
    highest = np.argsort(-episodes["peak_z"].to_numpy(), kind="stable") if len(episodes) else []
    listed = sorted(highest[:MAX_LISTED_EPISODES])
    legend_episodes = [episode_handles[i] for i in listed]
    if len(episode_handles) > len(listed):
        more = len(episode_handles) - len(listed)
        legend_episodes.append(Patch(color="none", label=f"... and {more} more (highest peaks listed)"))
    lines = len(handles) + sum(h.get_label().count("\n") + 1 for h in legend_episodes) + 1
    fig = plt.figure(figsize=(11, max(3.6, 0.8 + LEGEND_LINE_INCHES * lines)), dpi=80)
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1.3], height_ratios=[8, 1], hspace=0.08, wspace=0.03)
    ax, band, side = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[:, 1])
    band.sharex(ax)
    if not scores.empty:
        state = scores["operating_state"].astype(str)
        for name, (colour, _) in STATE_SHADES.items():
            for start, end in _spans(scores.index, state == name):
                ax.axvspan(start, end, color=colour, lw=0)
        running_z = scores["fused_z"].where(state == "running")
        regimes = scores["regime"].astype("category").cat.codes
        ax.set_ylim(min(0.0, running_z.min()) if running_z.notna().any() else 0.0,
                    max(1.5 * alert_z, 1.05 * running_z.max()) if running_z.notna().any() else 1.5 * alert_z)
        if len(scores) > MAX_DRAWN_POINTS:
            bins = (np.arange(len(scores)) * MAX_DRAWN_POINTS) // len(scores)
            first = np.flatnonzero(np.diff(bins, prepend=-1))
            running_z = running_z.groupby(bins).max().set_axis(scores.index[first])
            regimes = regimes.groupby(bins).last().set_axis(scores.index[first])
        ax.plot(running_z.index, running_z, lw=0.8, color="#1f3b73")
        band.scatter(regimes.index, [0] * len(regimes), c=regimes, cmap="tab10", marker="|", s=200)
    for handle, episode in zip(episode_handles, episodes.itertuples()):  # an episode may begin before the plot
        start = max(episode.start, scores.index[0]) if not scores.empty else episode.start
        ax.axvspan(start, episode.end, color=handle.get_facecolor(), lw=0)
    ax.axhline(caution_z, color="#e0a000", lw=0.8, ls="--")
    ax.axhline(alert_z, color="#c00000", lw=0.8, ls="--")
    ax.set_ylabel("fused z")
    ax.set_title(_plain(title), fontsize=9, loc="left")
    ax.tick_params(labelbottom=False)
    band.set_yticks([])
    band.set_ylabel("regime", fontsize=7, rotation=0, ha="right", va="center")
    band.xaxis.set_major_formatter(mdates.ConciseDateFormatter(band.xaxis.get_major_locator()))
    side.axis("off")
    heading = Patch(color="none", label=f"\nepisodes: {len(episode_handles)}" + (" (shaded)" if episode_handles else ""))
    side.legend(handles=[*handles, heading, *legend_episodes], loc="upper left", fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.93, bottom=0.1)
    return fig


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
