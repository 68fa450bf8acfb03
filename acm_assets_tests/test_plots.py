import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from acm_assets.plots import health_figure, health_plot_png

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
