"""The Tennessee Eastman benchmark on the standard protocol: the product's defaults meet the detection targets,
and the textbook PCA reproduces the reference figures of ../shared/data/tep/README.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from acm_assets.bench import tep
from acm_assets_tests.conftest import skip_or_fail

TEP_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tep"

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def report() -> dict:
    if not TEP_DIR.is_dir():
        skip_or_fail(f"Tennessee Eastman files not found at {TEP_DIR}")
    out = subprocess.run([sys.executable, "-m", "acm_assets.bench", "tep", "--data", str(TEP_DIR)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_defaults_meet_the_tennessee_eastman_targets(report):
    acm = report["methods"]["acm"]
    assert acm["far_d00_te"] <= 0.02 and acm["far_pre_fault"] <= 0.02
    assert acm["mean_fdr_18"] >= 0.93
    assert all(acm["fdr"][k] <= 0.10 for k in ("3", "9", "15"))
    assert set(acm["fdr"]) == {str(k) for k in range(1, 22)} and acm["fdr"]["21"] is not None


def test_the_textbook_pca_reproduces_the_reference_figures(report):
    nine, ninety = report["methods"]["pca_9"], report["methods"]["pca_90"]
    assert (nine["mean_fdr_18"], nine["far_d00_te"]) == pytest.approx((0.810, 0.072), abs=0.001)
    assert (ninety["mean_fdr_18"], ninety["far_d00_te"]) == pytest.approx((0.866, 0.177), abs=0.001)


def test_pyod_detectors_run_beside_them(report):
    for name in ("pyod_ecod", "pyod_iforest"):
        assert "skipped" not in report["methods"][name]
        assert 0.0 <= report["methods"][name]["far_d00_te"] <= 1.0


def test_delays_count_minutes_from_the_fault_and_a_missing_file_is_named(tmp_path):
    alarms = {k: np.zeros(960, bool) for k in (0, *tep.FAULTS)}
    alarms[1][165] = True
    summary = tep.summarize(alarms)
    assert summary["delay_minutes"]["1"] == 15.0 and summary["delay_minutes"]["2"] is None
    with pytest.raises(SystemExit, match="d00.dat"):
        tep.read_files(tmp_path)
