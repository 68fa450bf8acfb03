"""Streaming an export through the staging file gives what the in-memory reader and `clean_frame` give, at any
chunk size, and refuses the same input with the same messages."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from acm_assets.cli.main import main
from acm_assets.ingest.csv_reader import HistorianStream, read_historian_csv
from acm_assets.ingest.errors import IngestError
from acm_assets.ingest.staging import StagedExport

NOW = pd.Timestamp("2024-11-05", tz="UTC")


def _export(path, rows: int = 400) -> None:
    """Out of order, duplicate timestamps far apart, a gap, a text column, missing markers, blank lines, a
    future row and the repeated fall-back hour of America/New_York, written in file order."""
    times = list(pd.date_range("2024-11-03 00:00", periods=rows, freq="5min", tz="UTC").tz_convert("America/New_York"))
    rng = np.random.default_rng(1)
    lines = ["Date Time,FLOW|A,\\\\PIAF\\Plant|Temp \"C\",Comment", "Units,m3/h,degC,"]
    for i, stamp in enumerate(times):
        if 100 <= i < 110:
            continue  # a gap
        value = "#N/A" if i % 37 == 0 else f"{rng.normal():.4f}"
        lines.append(f"{stamp:%m/%d/%Y %H:%M},{value},{rng.normal():.3f},note {i % 3}")
        if i % 50 == 0:
            lines.append("")
    lines.insert(40, f"{times[5]:%m/%d/%Y %H:%M},9.5,1.0,again")  # a duplicate of an early row, later in the file
    lines.append("01/01/2030 00:00,1,1,future")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("chunk_rows", [7, 64, 50_000])
def test_a_staged_export_has_the_rows_and_counts_of_the_in_memory_read(tmp_path, chunk_rows):
    path = tmp_path / "export.csv"
    _export(path)
    options = {"timezone": "America/New_York"}
    expected = read_historian_csv(path, **options).clean(now=NOW, drop_constant=False, max_gap_cadences=1)
    staged = StagedExport(HistorianStream(path, chunk_rows=chunk_rows, **options), tmp_path, now=NOW)
    frame = pd.concat(list(staged.batches()))
    pd.testing.assert_frame_equal(frame, expected.frame, check_freq=False)
    got, want = staged.report.to_metadata(), expected.report.to_metadata()
    assert got["dropped_rows"] == want["dropped_rows"] and want["dropped_rows"]["duplicate_timestamps"] == 1
    assert want["dropped_rows"]["future"] == 1 and want["dropped_tags"] == {"Comment": got["dropped_tags"]["Comment"]}
    for key in ("rows_in", "rows_out", "start", "end", "cadence_seconds", "gaps", "segments", "missing_share",
                "tags", "timestamp_formats", "header_rows"):
        assert got[key] == want[key], key
    staged.close()


def test_a_tag_that_changes_type_in_a_later_chunk_is_refused_naming_it(tmp_path):
    path = tmp_path / "export.csv"
    rows = [f"2024-01-01T{h:02d}:00,{h}" for h in range(24)] + ["2024-01-02T00:00,bad value"]
    path.write_text("TS,FLOW|A\n" + "\n".join(rows) + "\n")
    message = r"tag 'FLOW\|A' changes type: 1 values are neither numbers .*'bad value' \(line 26\)"
    with pytest.raises(IngestError, match=message):
        read_historian_csv(path)
    with pytest.raises(IngestError, match=message):
        StagedExport(HistorianStream(path, chunk_rows=5), tmp_path)


def test_a_tag_name_longer_than_the_historian_holds_is_refused_naming_it_and_the_file(tmp_path):
    path = tmp_path / "long.csv"
    tag = "\\\\PIAF01\\" + "Plant\\" * 40 + "Bearing Temperature"
    path.write_text(f"TS,{tag}\n2024-01-01T00:00,1\n")
    with pytest.raises(IngestError, match=rf"{path}: tag .*Bearing Temperature' has {len(tag)} characters; "
                                           "HistorianData.Tag holds at most 200"):
        StagedExport(HistorianStream(path), tmp_path)


IMPORT_WITH_LESS_MEMORY = """
import resource, sys
from acm_assets.cli.main import main
status = open("/proc/self/status").read()
limit = int(status.split("VmData:")[1].split()[0]) * 1024 + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
sys.exit(main(["import-csv", "--equip", "PUMP", sys.argv[2], "--database-url", sys.argv[3]]))
"""
ALLOWED = 64 * 2**20


def test_an_export_larger_than_the_memory_the_import_may_use_is_imported(tmp_path, sqlite_url):
    """The import may allocate 64 MB beyond what the process holds once its code is loaded (RLIMIT_DATA); the
    export is over 96 MB. Its comment column, as a historian's annotations, makes the bytes: read, reported,
    never stored."""
    path = tmp_path / "big.csv"
    comment = "operator note " * 20
    rows = 330_000
    stamps = pd.date_range("2024-01-01", periods=rows, freq="1min")
    with path.open("w") as out:
        out.write("TS,FLOW,Comment\n")
        out.writelines(f"{t:%Y-%m-%dT%H:%M},{i % 97}.5,{comment}{i}\n" for i, t in enumerate(stamps))
    assert path.stat().st_size > 1.5 * ALLOWED
    assert main(["equipment", "add", "PUMP", "--database-url", sqlite_url]) == 0
    done = subprocess.run([sys.executable, "-c", IMPORT_WITH_LESS_MEMORY, str(ALLOWED), str(path), sqlite_url],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{rows} rows read, {rows} kept (dropped: none); 1 tags" in done.stdout
    assert "columns not imported: {'Comment': \"not numeric: text values only" in done.stdout
    assert f"PUMP: {rows} points inserted" in done.stdout
