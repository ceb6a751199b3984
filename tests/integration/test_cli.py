"""The ``dialer`` command as an operator runs it: real processes, real databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialer" / "samples" / "contacts.csv"


def dialer(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args],
        env=full_env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_embedded_import_of_the_sample_prints_json(tmp_path: Path) -> None:
    done = dialer("lists", "import", str(SAMPLE), "--name", "Sample", "--json",
                  env={"DIALER_DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"list_id", "rows", "accepted", "rejected", "seconds"} <= set(result)
    assert (result["rows"], result["accepted"]) == (66, 61)
    assert result["rejected"] == {
        "duplicate_in_file": 1, "empty": 1, "invalid_number": 1, "unparseable": 1,
        "unsupported_type": 1,
    }  # fmt: skip
    assert (tmp_path / "data" / "dialer.sqlite3").exists()
    again = dialer("lists", "import", str(SAMPLE), "--name", "Sample", "--json",
                   env={"DIALER_DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    assert json.loads(again.stdout)["accepted"] == 0


def test_rejects_option_writes_the_file(tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    done = dialer("lists", "import", str(SAMPLE), "--name", "S", "--rejects", str(rejects),
                  env={"DIALER_DATA_DIR": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rejected rows written to" in done.stdout
    assert len(rejects.read_text().splitlines()) == 6


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIALER_IMPORT_BLOCK_MIB": "lots"}, "invalid configuration: DIALER_IMPORT_BLOCK_MIB"),
        ({"DIALER_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "cannot open database"),
        ({"DIALER_DATABASE_URL": "not a url"}, "cannot open database"),
    ],
)
def test_broken_configuration_is_a_clear_error(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    done = dialer("lists", "import", str(SAMPLE), "--name", "x",
                  env={"DIALER_DATA_DIR": str(tmp_path), **env})  # fmt: skip
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email\nAnn,a@example.com\n")
    done = dialer(
        "lists", "import", str(bad), "--name", "x", env={"DIALER_DATA_DIR": str(tmp_path)}
    )
    assert done.returncode == 2
    assert "nothing imported: no phone column found" in done.stderr
    assert "Traceback" not in done.stderr


def test_dnc_commands_on_postgres(postgres_url: str, pg_engine: object, tmp_path: Path) -> None:
    env = {"DIALER_DATABASE_URL": postgres_url}
    assert dialer("dnc", "add", "+1 415 555 2671", "(212) 555-0100", env=env).returncode == 0
    check = dialer("dnc", "check", "4155552671", "+16465550199", "--json", env=env)
    assert check.returncode == 1  # one of them is listed
    assert json.loads(check.stdout) == {"4155552671": True, "+16465550199": False}
    bad = dialer("dnc", "add", "nonsense", env=env)
    assert bad.returncode == 2
    assert "'nonsense' (unparseable)" in bad.stderr
    file = tmp_path / "dnc.csv"
    file.write_text("phone\n+16465550199\n+14155552671\nnope\n")
    imported = dialer("dnc", "import", str(file), "--json", env=env)
    assert json.loads(imported.stdout) == {
        "rows": 3, "added": 1, "already_listed": 1, "invalid": 1,
    }  # fmt: skip
    assert dialer("dnc", "remove", "+14155552671", env=env).returncode == 0
    check = dialer("dnc", "check", "+14155552671", env=env)
    assert check.returncode == 0
    assert "not listed" in check.stdout
