"""The daily health picture shown in the Dagster UI: fused z with episodes shaded, the regime band, culprits."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402



def health_plot_png(
    scores: pd.DataFrame, episodes: pd.DataFrame, title: str, caution_z: float, alert_z: float
) -> bytes:
    """PNG bytes: fused z over time with the threshold lines, episodes shaded, regimes as a colour band."""
    fig, (ax, band) = plt.subplots(
        2, 1, figsize=(9, 3.6), sharex=True, gridspec_kw={"height_ratios": [6, 1]}, layout="constrained"
    )
    if not scores.empty:
        ax.plot(scores.index, scores["fused_z"], lw=0.8, color="#1f3b73")
        regimes = scores["regime"].astype("category")
        band.scatter(scores.index, [0] * len(scores), c=regimes.cat.codes, cmap="tab10", marker="|", s=200)
    ax.axhline(caution_z, color="#e0a000", lw=0.8, ls="--", label="CAUTION")
    ax.axhline(alert_z, color="#c00000", lw=0.8, ls="--", label="ALERT")
    for episode in episodes.itertuples():
        ax.axvspan(episode.start, episode.end, color="#c00000", alpha=0.15)
        ax.annotate(", ".join(episode.culprits[:3]), (episode.start, alert_z), fontsize=7, rotation=0)
    ax.set_ylabel("fused z")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    band.set_yticks([])
    band.set_ylabel("regime", fontsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown that the Dagster UI renders as an inline image."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
