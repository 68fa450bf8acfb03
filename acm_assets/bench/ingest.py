"""Historian CSV ingest speed: read + clean of the reference exports and of a large synthetic export."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from acm_assets.ingest.csv_reader import read_historian_csv


def add_arguments(parser) -> None:
    parser.add_argument("--reference-dir", type=Path, default=Path("../shared/data/acm_reference"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the synthetic export (20 tags)")


def _timed(path: Path, repeat: int) -> dict:
    read, clean = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        export = read_historian_csv(path)
        read.append(time.perf_counter() - started)
        started = time.perf_counter()
        cleaned = export.clean(drop_constant=False)
        clean.append(time.perf_counter() - started)
    return {
        "rows_in": export.report.rows_in,
        "tags": export.frame.shape[1],
        "rows_out": cleaned.report.rows_out,
        "read_seconds_median": round(statistics.median(read), 4),
        "clean_seconds_median": round(statistics.median(clean), 4),
    }


def _synthetic_export(path: Path, rows: int) -> None:
    """Mixed month-first spellings (as in the FD_FAN exports), quoted numbers, a few missing markers."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2020-01-01", periods=rows, freq="10min")
    stamps = np.where(times.day <= 12, times.strftime("%m-%d-%Y %H:%M"), times.strftime("%-m/%-d/%Y %-H:%M"))
    values = pd.DataFrame(rng.normal(size=(rows, 20)).round(4), columns=[f"TAG{i:02d}" for i in range(20)])
    values = values.astype(str).mask(rng.random(values.shape) < 0.001, "#N/A")
    values.insert(0, "TS", stamps)
    values.to_csv(path, index=False, quoting=1)


def run(args) -> dict:
    result = {}
    if args.reference_dir.is_dir():
        for path in sorted(args.reference_dir.glob("*.csv")):
            result[path.name] = _timed(path, args.repeat)
    else:
        result["reference_exports"] = f"skipped: {args.reference_dir} not found"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.csv"
        _synthetic_export(path, args.rows)
        result[f"synthetic_{args.rows}_rows"] = _timed(path, max(1, args.repeat // 2))
    return result
