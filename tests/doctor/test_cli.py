"""``dialer doctor`` as an operator runs it: a real process against the simulator over TCP.

The simulator runs in this process, so the child is waited for with gevent's subprocess:
the simulator keeps serving meanwhile.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gevent import subprocess as green
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.simulator import Simulator
from tests.doctor.conftest import INSTALLED, start
from tests.doctor.test_examine import SALES, free_port
from tests.engine.factories import make_campaign


def doctor(*args: str, nodes: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    full.update(DIALER_FS_NODES=nodes, DIALER_DATA_DIR=str(tmp_path / "data"), **env)
    done: subprocess.CompletedProcess[str] = green.run(
        [sys.executable, "-m", "dialer", "doctor", *args],
        env=full, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done


def flat(text: str) -> str:
    """Error messages are wrapped to the terminal width."""
    return " ".join(text.split())


def url(sim: Simulator, password: str = "ClueCon") -> str:
    host, port = sim.address
    return f"fs1=esl://:{password}@{host}:{port}?max_channels=500&sps=20"


def test_an_installed_node_prints_one_line_per_check_and_exits_0(
    sim: Simulator, tmp_path: Path
) -> None:
    done = doctor("--node", "fs1", nodes=url(sim), tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"PASS  version +FreeSWITCH 1\.10\.12", lines[2])
    assert any(re.fullmatch(r"PASS  max-sessions +node 1000 >= configured max_channels 500", x)
               for x in lines)  # fmt: skip
    assert any(re.fullmatch(r"PASS  sessions-per-second +node 30 >= configured 20", x)
               for x in lines)  # fmt: skip
    assert all(line[:6] in ("PASS  ", "WARN  ", "SKIP  ") for line in lines[:-1]), lines
    assert lines[-1].startswith(f"node fs1 ({sim.address[0]}:{sim.address[1]}): ")
    assert lines[-1].endswith(": ready for the dialer")
    assert not (tmp_path / "data").exists()  # reading campaigns created no database


def test_json_has_every_check_and_the_verdict(sim: Simulator, tmp_path: Path) -> None:
    done = doctor("--node", "fs1", "--json", nodes=url(sim), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"node", "address", "ok", "summary", "checks"}
    assert report["node"] == "fs1"
    assert report["ok"] is True
    assert report["summary"]["failed"] == 0
    assert set(report["summary"]) == {"passed", "warnings", "failed", "skipped"}
    checks = {c["name"]: c for c in report["checks"]}
    assert {"name", "status", "required", "detail"} <= set(checks["version"])
    assert checks["version"]["data"] == {
        "version": "1.10.12", "full": "1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit"
    }  # fmt: skip
    assert checks["max-sessions"]["data"] == {"node": 1000, "configured": 500}
    assert checks["module mod_amd"]["required"] is False


def test_a_failing_check_exits_1(tmp_path: Path) -> None:
    sim = start(modules=INSTALLED - {"mod_callcenter"})
    try:
        done = doctor("--node", "fs1", nodes=url(sim), tmp_path=tmp_path)
    finally:
        sim.stop()
    assert done.returncode == 1
    assert re.search(r"^FAIL  module mod_callcenter +not loaded", done.stdout, re.MULTILINE)
    assert done.stdout.rstrip().endswith("NOT ready for the dialer")


def test_a_wrong_password_exits_1_with_the_reason(sim: Simulator, tmp_path: Path) -> None:
    done = doctor("--node", "fs1", nodes=url(sim, "wrong"), tmp_path=tmp_path)
    assert done.returncode == 1
    assert "FAIL  esl connection" in done.stdout
    assert "authentication failed (-ERR invalid)" in done.stdout
    assert "Traceback" not in done.stderr


def test_an_unreachable_node_exits_1(tmp_path: Path) -> None:
    nodes = f"fs1=esl://127.0.0.1:{free_port()}"
    done = doctor("--node", "fs1", "--timeout", "1", nodes=nodes, tmp_path=tmp_path)
    assert done.returncode == 1
    assert "connection refused" in done.stdout
    assert "Traceback" not in done.stderr


def test_an_unknown_node_is_a_usage_error(tmp_path: Path) -> None:
    done = doctor("--node", "fs9", nodes="fs1=esl://127.0.0.1:1,fs2=esl://127.0.0.1:2",
                  tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "unknown node 'fs9' (DIALER_FS_NODES has: fs1, fs2)" in flat(done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


# --- campaigns from the database ------------------------------------------------------------


@pytest.mark.postgres
def test_queues_of_live_campaigns_are_checked(
    sim: Simulator, pg_engine: Engine, postgres_url: str, tmp_path: Path
) -> None:
    with Session(pg_engine) as s, s.begin():
        wanting = make_campaign(s, status="running", **SALES).id
        make_campaign(s, status="completed", queues={"old": {"target": "old@default"}})
        plain = make_campaign(s, status="draft").id
    done = doctor("--node", "fs1", nodes=url(sim), tmp_path=tmp_path,
                  DIALER_DATABASE_URL=postgres_url)  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert re.search(
        rf"^FAIL  queues +missing: sales@default \(campaign {wanting}\): ", done.stdout, re.M
    )
    assert "old@default" not in done.stdout  # a completed campaign dials no more
    assert re.search(r"^PASS  campaigns +2 that may still dial \(of 3 in the database\)$",
                     done.stdout, re.M)  # fmt: skip
    # one campaign: only what it uses
    only = doctor("--node", "fs1", "--campaign", str(plain), nodes=url(sim), tmp_path=tmp_path,
                  DIALER_DATABASE_URL=postgres_url)  # fmt: skip
    assert only.returncode == 0, only.stdout
    assert re.search(rf"^SKIP  queues +no queue used by campaign {plain}$", only.stdout, re.M)
    missing = doctor("--node", "fs1", "--campaign", "999999", nodes=url(sim), tmp_path=tmp_path,
                     DIALER_DATABASE_URL=postgres_url)  # fmt: skip
    assert missing.returncode == 2
    assert "no campaign 999999 in postgresql" in flat(missing.stderr)
    assert "Traceback" not in missing.stderr


def test_an_unreachable_database_is_a_warning_not_a_failure(
    sim: Simulator, tmp_path: Path
) -> None:
    dead = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none"
    done = doctor("--node", "fs1", nodes=url(sim), tmp_path=tmp_path, DIALER_DATABASE_URL=dead)
    assert done.returncode == 0, done.stdout
    warning = re.search(r"^WARN  campaigns +not read from (.*)$", done.stdout, re.M)
    assert warning, done.stdout
    assert "only the default queue is checked" in warning.group(1)
    assert "secret" not in done.stdout
    with_campaign = doctor("--node", "fs1", "--campaign", "3", nodes=url(sim),
                           tmp_path=tmp_path, DIALER_DATABASE_URL=dead)  # fmt: skip
    assert with_campaign.returncode == 2
    assert "cannot read campaign 3 from postgresql" in flat(with_campaign.stderr)
