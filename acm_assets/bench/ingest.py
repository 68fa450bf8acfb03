"""Historian CSV ingest: read + clean speed of the reference exports and of a synthetic export, and the peak
memory of `acm import-csv` on generated exports of growing size, next to the in-memory read of the same files."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from acm_assets.ingest.csv_reader import read_historian_csv

TAGS = 20
# The in-memory read holds the whole file as float64 tags (and parses it as text a chunk at a time): past
# this size it is not measured, as it would take as much memory as the benchmark means to show is not needed.
IN_MEMORY_UP_TO_MB = 100
_REPORT_PEAK = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('peak_rss_kb ' + open('/proc/self/status').read()"
    ".split('VmHWM:')[1].split()[0] + '\\n'))"
)
_IMPORT = "from acm_assets.cli.main import main\nsys.exit(main(sys.argv[1:]))"
_READ_IN_MEMORY = (
    "from acm_assets.ingest.csv_reader import read_historian_csv\n"
    "read_historian_csv(sys.argv[1]).clean(drop_constant=False)"
)


def add_arguments(parser) -> None:
    parser.add_argument("--reference-dir", type=Path, default=Path("../shared/data/acm_reference"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the synthetic export (20 tags)")
    parser.add_argument(
        "--import-mb", type=float, nargs="*", default=[10, 100, 1000],
        help="sizes in MB of the generated exports imported with `acm import-csv` (peak RSS of each)",
    )


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


def _rows(rng, start: int, rows: int, first: str = "2020-01-01", minutes: int = 10) -> pd.DataFrame:
    """Mixed month-first spellings (as in the FD_FAN exports), quoted numbers, a few missing markers."""
    times = pd.date_range(first, periods=rows, freq=f"{minutes}min") + pd.Timedelta(minutes=minutes * start)
    stamps = np.where(times.day <= 12, times.strftime("%m-%d-%Y %H:%M"), times.strftime("%-m/%-d/%Y %-H:%M"))
    values = pd.DataFrame(rng.normal(size=(rows, TAGS)).round(4), columns=[f"TAG{i:02d}" for i in range(TAGS)])
    values = values.astype(str).mask(rng.random(values.shape) < 0.001, "#N/A")
    values.insert(0, "TS", stamps)
    return values


def _synthetic_export(path: Path, rows: int) -> None:
    _rows(np.random.default_rng(0), 0, rows).to_csv(path, index=False, quoting=1)


def _generated_export(path: Path, megabytes: float) -> int:
    """An export of about `megabytes` MB at 1 minute from 2010 (1 GB is 9 years, all of them in the past),
    written 10,000 rows at a time; returns its rows."""
    rng, written, rows = np.random.default_rng(0), 0, 0
    with path.open("w", newline="") as out:
        while written < megabytes * 1e6:
            text = _rows(rng, rows, 10_000, "2010-01-01", 1).to_csv(index=False, quoting=1, header=rows == 0)
            out.write(text)
            written, rows = written + len(text), rows + 10_000
    return rows


def _import_memory(folder: Path, megabytes: float) -> dict:
    path = folder / f"export_{megabytes:g}mb.csv"
    rows = _generated_export(path, megabytes)
    url = f"sqlite:///{folder / f'acm_{megabytes:g}mb.db'}"
    subprocess.run([sys.executable, "-m", "acm_assets.cli.main", "equipment", "add", "BENCH", "--database-url", url],
                   check=True, capture_output=True)
    idle = _measured(_IMPORT, "equipment", "list", "--database-url", url)  # what the command holds before any file
    streamed = _measured(_IMPORT, "import-csv", "--equip", "BENCH", str(path), "--database-url", url)
    result = {
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "rows": rows,
        "tags": TAGS,
        "import_seconds": streamed["seconds"],
        "import_peak_rss_mb": streamed["peak_rss_mb"],
        "acm_equipment_list_peak_rss_mb": idle["peak_rss_mb"],
        "import_output": streamed["stdout"].strip().splitlines(),
    }
    if megabytes <= IN_MEMORY_UP_TO_MB:
        read = _measured(_READ_IN_MEMORY, str(path))
        result.update(in_memory_read_seconds=read["seconds"], in_memory_read_peak_rss_mb=read["peak_rss_mb"])
    path.unlink()
    return result


def _measured(code: str, *argv: str) -> dict:
    """Wall time, output and peak RSS of a fresh Python process running `code` (with `argv` as sys.argv[1:]):
    the child reports its own high-water mark, which a parent's rusage would mix with its own at the fork."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", f"{_REPORT_PEAK}\n{code}", *argv], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{code} {' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    peak_kb = int(done.stderr.rsplit("peak_rss_kb ", 1)[1].split()[0])
    seconds = round(time.perf_counter() - started, 1)
    return {"seconds": seconds, "stdout": done.stdout, "peak_rss_mb": round(peak_kb / 1024, 1)}


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
        for megabytes in args.import_mb:
            result[f"import_{megabytes:g}_mb"] = _import_memory(Path(folder), megabytes)
    return result
