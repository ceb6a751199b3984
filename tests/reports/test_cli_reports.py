"""``dialer reports`` as an operator runs it: fresh processes on PostgreSQL and SQLite."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from sqlalchemy import Engine

from tests.integration.test_cli import dialer
from tests.reports.seed import seed


class Reports:
    """The CLI pointed at the test's database."""

    def __init__(self, engine: Engine, tmp_path: Path) -> None:
        if engine.dialect.name == "postgresql":
            url = engine.url.render_as_string(hide_password=False)
            self.env = {"DIALER_DATABASE_URL": url, "COLUMNS": "200"}
        else:  # the sqlite_engine fixture's file is the embedded database of tmp_path
            self.env = {"DIALER_DATA_DIR": str(tmp_path), "COLUMNS": "200"}

    def __call__(self, *args: str, code: int = 0) -> CompletedProcess[str]:
        done = dialer("reports", *args, env=self.env)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr
        return done

    def error(self, *args: str) -> str:
        done = self(*args, code=2)
        assert done.stderr.startswith("error: "), done.stderr
        return " ".join(done.stderr.split())


@pytest.fixture
def run(engine: Engine, tmp_path: Path) -> Reports:
    return Reports(engine, tmp_path)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_outcomes_to_a_file_and_to_stdout(engine: Engine, run: Reports, tmp_path: Path) -> None:
    ids = seed(engine)
    target = tmp_path / "outcomes.csv"
    done = run("outcomes", str(ids["campaign"]), "-o", str(target))
    assert "3 rows written to" in done.stderr
    assert done.stdout == ""
    written = target.read_text("utf-8-sig")
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM Excel reads UTF-8 by
    assert [r["number"] for r in rows(written)] == ["+12125550111", "+442071838750",
                                                  "+33142685300"]  # fmt: skip
    piped = run("outcomes", str(ids["campaign"]), "-o", "-")
    assert piped.stdout.replace("\r\n", "\n") == written.replace("\r\n", "\n")
    assert piped.stderr == ""  # no progress, no summary when not a terminal


def test_cdr_with_a_campaign_and_dates(engine: Engine, run: Reports) -> None:
    ids = seed(engine)
    everything = rows(run("cdr", "-o", "-").stdout)
    assert len(everything) == 4
    campaign = str(ids["campaign"])
    one_day = rows(run("cdr", "--campaign", campaign, "--from", "2026-11-30",
                       "--to", "2026-11-30", "-o", "-").stdout)  # fmt: skip
    assert [r["call_uuid"] for r in one_day] == [ids["first"], ids["second"]]
    later = rows(run("cdr", "--campaign", campaign, "--from", "2026-11-30T16:00:00Z",
                     "-o", "-").stdout)  # fmt: skip
    assert [r["call_uuid"] for r in later] == [ids["second"], ids["busy"]]


def test_bad_input_is_a_clear_error(engine: Engine, run: Reports, tmp_path: Path) -> None:
    seed(engine)
    assert "error: no campaign 999" in run.error("outcomes", "999", "-o", "-")
    assert "error: no campaign 999" in run.error("cdr", "--campaign", "999", "-o", "-")
    assert "--from 'yesterday' is not a date" in run.error("cdr", "--from", "yesterday",
                                                           "-o", "-")  # fmt: skip
    assert "--to (2026-01-01) is not after --from (2026-02-01)" in run.error(
        "cdr", "--from", "2026-02-01", "--to", "2026-01-01", "-o", "-"
    )
    missing = tmp_path / "no" / "such" / "dir" / "out.csv"
    assert f"cannot write {missing}" in run.error("cdr", "-o", str(missing))
    assert "it is a directory" in run.error("cdr", "-o", str(tmp_path))
    absent = tmp_path / "never.csv"
    run.error("outcomes", "999", "-o", str(absent))
    assert not absent.exists()  # an unknown campaign leaves no empty file behind
