"""``dialer`` as a user runs it, on an embedded SQLite database of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_dialer(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIALER_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    env.pop("DIALER_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
