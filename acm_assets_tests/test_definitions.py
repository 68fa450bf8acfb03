import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from acm_assets.definitions import defs


def test_definitions_load():
    assert isinstance(defs, dg.Definitions)
    defs.get_repository_def().load_all_definitions()


def test_dg_check_defs_loads_the_code_location_named_in_pyproject():
    """`dg dev` and `dg check defs` find the project through [tool.dg] in pyproject.toml."""
    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACM_")} | {"ACM_HOME": os.environ["ACM_HOME"]}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "check", "defs"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully." in done.stdout
