import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from acm_assets.plots import MAX_DRAWN_POINTS, MAX_LISTED_EPISODES, MIN_EPISODE_WIDTH, health_figure, health_plot_png

INDEX = pd.date_range("2024-05-01", periods=144, freq="10min", tz="UTC")
STATE = ["off"] * 20 + ["transition"] * 6 + ["running"] * 100 + ["transition"] * 6 + ["off"] * 12


def _scores() -> pd.DataFrame:
    fused = np.where(np.array(STATE) == "running", 1.0, 28.0)  # start-ups and stops score high
    return pd.DataFrame({"fused_z": fused, "operating_state": STATE, "regime": 0}, index=INDEX)


def _episodes(n: int) -> pd.DataFrame:
    # Back-to-back short episodes with long culprit names: labels on the plot itself would collide.
    starts = [INDEX[30 + 4 * i] for i in range(n)]
    return pd.DataFrame({
        "start": starts,
        "end": [s + pd.Timedelta(minutes=30) for s in starts],
        "peak_z": 5.0,
        "culprits": [[f"PLANT.UNIT{i}.BEARING_TEMPERATURE_NDE", "PLANT.MOTOR_CURRENT_PHASE_A"] for i in range(n)],
    })


def test_off_and_transition_points_are_shaded_not_drawn():
    fig = health_figure(_scores(), _episodes(0), "t", 1.5, 3.0)
    (line,) = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == len(INDEX)]
    drawn = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(drawn[np.array(STATE) != "running"]).all()
    assert np.nanmax(drawn) == 1.0
    plt.close(fig)


def test_every_episode_is_listed_beside_the_plot_and_no_two_labels_overlap():
    fig = health_figure(_scores(), _episodes(8), "t", 1.5, 3.0)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.axes[2].get_legend().get_texts()]
    assert sum(t.get_text().startswith("E") for t in texts) == 8
    assert all("PLANT.UNIT3.BEARING_TEMPERATURE_NDE" in t.get_text() for t in texts if t.get_text().startswith("E4 "))
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    plt.close(fig)


def test_the_png_is_an_image():
    assert health_plot_png(_scores(), _episodes(2), "t", 1.5, 3.0).startswith(b"\x89PNG")


def test_a_long_run_is_drawn_as_bins_keeping_each_bins_peak():
    index = pd.date_range("2024-01-01", periods=52_560, freq="10min", tz="UTC")  # a year at 10 minutes
    fused = np.ones(len(index))
    fused[30_001] = 9.0  # one spike must survive the binning
    scores = pd.DataFrame({"fused_z": fused, "operating_state": "running", "regime": 0}, index=index)
    fig = health_figure(scores, _episodes(0), "t", 1.5, 3.0)
    (line,) = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) > 2]
    assert len(line.get_xdata()) == MAX_DRAWN_POINTS
    assert np.nanmax(np.asarray(line.get_ydata(), dtype=float)) == 9.0
    plt.close(fig)


def test_only_the_highest_peaks_are_listed_with_how_many_more():
    episodes = _episodes(20).assign(peak_z=np.arange(20, dtype=float))
    fig = health_figure(_scores(), episodes, "t", 1.5, 3.0)
    texts = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    listed = [t.split()[0] for t in texts if t.startswith("E")]
    assert listed == [f"E{i + 1}" for i in range(20 - MAX_LISTED_EPISODES, 20)]  # chronological, highest peaks
    assert f"... and {20 - MAX_LISTED_EPISODES} more (highest peaks listed)" in texts
    assert "\nepisodes: 20 (shaded, labelled on the plot)" in texts
    # each listed episode is labelled on the plot itself, so a colour repeated after 16 episodes is never ambiguous
    labels = sorted(t.get_text() for t in fig.axes[0].texts)
    assert labels == sorted(f"E{i + 1}" for i in range(20 - MAX_LISTED_EPISODES, 20))
    plt.close(fig)


def test_culprit_names_are_shown_as_written_never_as_markup():
    """Dollar signs would make matplotlib parse a name as mathtext (and fail on a backslash in a PI AF path)."""
    names = ["\\\\PIAF01\\Plant|Cost $\\alpha$ per m³", "Débit \"A\" $\\PIAF$"]
    episodes = _episodes(1).assign(culprits=[names])
    fig = health_figure(_scores(), episodes, "FD_FAN $x$", 1.5, 3.0)
    fig.canvas.draw()
    texts = [t.get_text() for t in fig.findobj(plt.Text)]
    assert any(all(name.replace("$", "\\$") in text for name in names) for text in texts)
    assert health_plot_png(_scores(), episodes, "FD_FAN", 1.5, 3.0).startswith(b"\x89PNG")
    plt.close(fig)


def test_health_is_drawn_0_to_100_and_the_regime_band_has_a_key():
    scores = _scores().assign(health=np.where(np.array(STATE) == "running", 80.0, 0.0))
    scores.loc[INDEX[100:], "regime"] = 2
    fig = health_figure(scores, _episodes(0), "t", 1.5, 3.0)
    panel = fig.axes[3]
    (line,) = panel.get_lines()
    assert panel.get_ylim() == (0, 105) and np.nanmax(np.asarray(line.get_ydata(), dtype=float)) == 80.0
    texts = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert "regime 0" in texts and "regime 2" in texts
    plt.close(fig)


def test_alerts_outside_any_episode_are_marked_and_explained_and_short_episodes_stay_visible():
    scores = _scores()
    scores.loc[INDEX[40], "fused_z"] = 6.0  # inside the episode below: explained
    scores.loc[INDEX[90], "fused_z"] = 5.0  # outside: marked
    episode = _episodes(1).assign(start=INDEX[38], end=INDEX[38])  # a single-point episode
    fig = health_figure(scores, episode.assign(onset=INDEX[36], end=INDEX[42]), "t", 1.5, 3.0)
    (marked,) = [c for c in fig.axes[0].collections if len(c.get_offsets())]
    assert len(marked.get_offsets()) == 1 and marked.get_offsets()[0][1] == 5.0
    texts = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert "ALERT outside any episode: 1 points\n   (too brief to open one)" in texts
    plt.close(fig)
    fig = health_figure(scores, episode, "t", 1.5, 3.0)
    (shade,) = [p for p in fig.axes[0].patches if round(p.get_facecolor()[3], 2) == 0.4]
    width = shade.get_width()
    assert width >= MIN_EPISODE_WIDTH * (INDEX[-1] - INDEX[0]) / pd.Timedelta(days=1) * 0.999
    plt.close(fig)
