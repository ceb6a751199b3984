"""Benchmark: `dialer reports cdr` of 1M ended call attempts vs a raw PostgreSQL COPY.

Fills a scratch database with one campaign of ``--rows`` ended attempts (a mix of outcomes with
their timings, AMD, IVR, queue, agent, recording and hangup cause filled as the engine leaves
them) with one ``INSERT … SELECT`` over ``generate_series``, then, in the same run, times:

* the export: the library calls the CLI makes (``cdr_report(…).write(file)``), in a child
  process so that its peak RSS is its own;
* a raw ``COPY (<the same query>) TO STDOUT (FORMAT csv)`` of the same rows to a file, two
  ways: the query the report's Python rows run (``SELECT call_attempts.*, recipient_id`` with
  the same join, filter and order), and the stricter one of only the stored columns the
  report's cells are made of (no cell work, fewer bytes).

Each is run ``--repeat`` times, alternating, and the best of each is compared (goal: the
export at most 1.5 times the raw COPY, the stricter one). ``--python-rows`` also times the
rows computed in Python (``write_csv(report.rows)``, what SQLite runs). Not part of the timed
test suite.

    .venv/bin/python -m bench.cdr_export --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.scratch_db import scratch_database
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, ContactList
from dialer.reports.cdr import cdr_report
from dialer.reports.stream import write_csv

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_PROGRESS = cast(sa.Table, CampaignRecipient.__table__)

#: The stored columns the report's cells are made of (the stricter raw COPY).
SOURCE_COLUMNS = (
    "id", "campaign_id", "metadata", "to_number", "caller_id_number", "attempt_no", "state",
    "outcome", "created_at", "started_at", "originate_sent_at", "answered_at", "ended_at",
    "ring_duration_sec", "billsec", "amd_enabled", "amd_result", "amd_cause", "amd_duration_ms",
    "ivr_digit", "ivr_attempts", "ivr_result", "queue_name", "queue_entered_at",
    "queue_wait_seconds", "queue_result", "agent_id", "agent_name", "talk_seconds",
    "handoff_type", "handoff_target", "abandoned", "recording_url", "recording_duration_sec",
    "hangup_cause", "disposition", "fs_node", "error",
)  # fmt: skip

#: Recipients of the campaign: the attempts beyond them are their retries (attempt 2, 3…).
RECIPIENT_SHARE = 0.8

_FILL_RECIPIENTS = """
INSERT INTO recipients (list_id, phone_e164, timezones, fields, row_no)
SELECT :list_id, '+1212' || lpad(g::text, 7, '0'), ARRAY['America/New_York'],
       jsonb_build_object('name', 'Person ' || g, 'plan', (ARRAY['gold', 'silver'])[1 + g % 2]),
       g + 1
FROM generate_series(1, :recipients) AS g;
INSERT INTO campaign_recipients (campaign_id, recipient_id, status, attempts, final_outcome)
SELECT :campaign_id, r.id, 'done', 1, NULL FROM recipients AS r WHERE r.list_id = :list_id;
"""

# r picks the outcome (a fixed mix); t is when the attempt was created, 1.7 s apart.
_FILL_ATTEMPTS = """
WITH progress AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS n
    FROM campaign_recipients WHERE campaign_id = :campaign_id
), s AS (
    SELECT g, abs(hashint4(g)::bigint) % 100 AS r,
           timestamptz '2026-11-02 13:00:00+00' + g * interval '1.7 s' AS t
    FROM generate_series(0, :rows - 1) AS g
), f AS (
    SELECT s.*, p.id AS progress_id, s.g / :recipients + 1 AS attempt_no,
           CASE WHEN r < 35 THEN 'no_answer' WHEN r < 45 THEN 'busy' WHEN r < 48 THEN 'failed'
                WHEN r < 60 THEN 'amd_machine' WHEN r < 65 THEN 'ivr_timeout'
                WHEN r < 70 THEN 'opted_out' WHEN r < 88 THEN 'agent_answered'
                WHEN r < 90 THEN 'queue_timeout' ELSE 'completed' END AS outcome,
           (abs(hashint4(g + 7)::bigint) % 1000 / 1000.0)::float8 AS jitter
    FROM s JOIN progress AS p ON p.n = s.g % :recipients
), a AS (
    SELECT f.*, outcome NOT IN ('no_answer', 'busy', 'failed') AS answered,
                outcome IN ('agent_answered', 'queue_timeout') AS queued,
                outcome NOT IN ('no_answer', 'busy', 'failed', 'amd_machine') AS human
    FROM f
)
INSERT INTO call_attempts (
    id, campaign_id, campaign_recipient_id, attempt_no, state, state_changed_at, claimed_by,
    claimed_at, dispatched_at, options, metadata, core_uuid, fs_node, trunk, to_number,
    caller_id_number, caller_id_name, created_at, originate_sent_at, started_at, answered_at,
    ended_at, ring_duration_sec, billsec, amd_enabled, amd_result, amd_cause, amd_duration_ms,
    amd_method, ivr_menu, ivr_digit, ivr_attempts, ivr_result, queue_name, queue_id,
    queue_entered_at, queue_wait_seconds, queue_result, agent_id, agent_name, talk_seconds,
    handoff_type, handoff_target, abandoned, recording_enabled, recording_url,
    recording_duration_sec, outcome, hangup_cause, disposition, error
)
SELECT
    gen_random_uuid(), :campaign_id, progress_id, attempt_no, 'ended', t + interval '95 s',
    'consumer:fs' || (1 + g % 2), t, t,
    '{"ring_timeout": 30, "max_duration": 300, "variables": {}}'::jsonb,
    jsonb_build_object('companyId', 'acme', 'campaignId', CAST(:campaign_id AS text),
                       'recipientId', progress_id::text),
    'core-' || (1 + g % 2), 'fs' || (1 + g % 2), 'default',
    '+1212' || lpad((g % :recipients + 1)::text, 7, '0'), '+12125550100', 'Acme Sales',
    t, t + interval '0.2 s', t + interval '0.3 s',
    CASE WHEN answered THEN t + interval '0.3 s' + (4 + jitter * 20) * interval '1 s' END,
    t + interval '0.3 s' + CASE WHEN outcome = 'no_answer' THEN interval '30 s'
                                WHEN outcome IN ('busy', 'failed') THEN interval '3 s'
                                ELSE (34 + jitter * 60) * interval '1 s' END,
    CASE WHEN answered THEN 4 + jitter * 20 WHEN outcome = 'no_answer' THEN 30.0 ELSE 3.0 END,
    CASE WHEN answered THEN (30 + jitter * 60)::int ELSE 0 END,
    true,
    CASE WHEN outcome = 'amd_machine' THEN 'MACHINE' WHEN answered THEN 'HUMAN' END,
    CASE WHEN outcome = 'amd_machine' THEN 'LONGGREETING' WHEN answered THEN 'HUMAN' END,
    CASE WHEN answered THEN (1500 + jitter * 2500)::int END,
    CASE WHEN answered THEN 'amd' END,
    CASE WHEN human THEN 'press1' END,
    CASE WHEN outcome IN ('agent_answered', 'queue_timeout') THEN '1'
         WHEN outcome = 'opted_out' THEN '9' END,
    CASE WHEN human THEN 1 + g % 2 END,
    CASE WHEN outcome = 'ivr_timeout' THEN 'timeout' WHEN human THEN 'digit_pressed' END,
    CASE WHEN queued THEN 'sales' END, CASE WHEN queued THEN 'q-sales' END,
    CASE WHEN queued THEN t + interval '12 s' END,
    CASE WHEN queued THEN round((jitter * 40)::numeric, 3)::float8 END,
    CASE WHEN outcome = 'agent_answered' THEN 'answered' WHEN queued THEN 'timeout' END,
    CASE WHEN outcome = 'agent_answered' THEN (1001 + g % 40)::text END,
    CASE WHEN outcome = 'agent_answered' THEN 'Agent ' || (1001 + g % 40) END,
    CASE WHEN outcome = 'agent_answered' THEN (20 + jitter * 200)::int END,
    CASE WHEN queued THEN 'queue' END, CASE WHEN queued THEN 'sales' END,
    CASE WHEN queued THEN outcome = 'queue_timeout' END,
    outcome = 'agent_answered',
    CASE WHEN outcome = 'agent_answered'
         THEN '/var/lib/freeswitch/recordings/' || to_char(t, 'YYYY/MM/DD/') || g || '.wav' END,
    CASE WHEN outcome = 'agent_answered' THEN (20 + jitter * 200)::int END,
    outcome,
    CASE outcome WHEN 'no_answer' THEN 'NO_ANSWER' WHEN 'busy' THEN 'USER_BUSY'
                 WHEN 'failed' THEN 'NORMAL_TEMPORARY_FAILURE' ELSE 'NORMAL_CLEARING' END,
    CASE WHEN outcome = 'agent_answered' AND g % 3 = 0 THEN 'sale'
         WHEN outcome = 'agent_answered' THEN 'callback' END,
    CASE WHEN outcome = 'failed' THEN '-ERR NORMAL_TEMPORARY_FAILURE' END
FROM a
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, best kept")
    parser.add_argument("--python-rows", action="store_true",
                        help="also time the rows computed in Python")  # fmt: skip
    parser.add_argument("--export-child", nargs=3, metavar=("URL", "CAMPAIGN", "PATH"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.export_child:
        url, campaign, path = args.export_child
        print(json.dumps(_export(url, int(campaign), Path(path), python=args.python_rows)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="dialer-bench-cdr-"))
    with scratch_database() as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            started = time.perf_counter()
            campaign_id = _fill(engine, args.rows)
            print(f"filled {args.rows:,} ended attempts in {time.perf_counter() - started:.1f} s")
            raw_runs: list[float] = []
            source_runs: list[float] = []
            ours: list[dict[str, Any]] = []
            for _ in range(args.repeat):
                raw_runs.append(_raw_copy(engine, campaign_id, workdir / "raw.csv", ()))
                source_runs.append(
                    _raw_copy(engine, campaign_id, workdir / "source.csv", SOURCE_COLUMNS)
                )
                ours.append(_run_export(url, campaign_id, workdir / "cdr.csv", python=False))
            python = (
                _run_export(url, campaign_id, workdir / "python.csv", python=True)
                if args.python_rows
                else None
            )
        finally:
            engine.dispose()
    best = min(ours, key=lambda run: float(run["seconds"]))
    raw, source = min(raw_runs), min(source_runs)
    size = {n: (workdir / f"{n}.csv").stat().st_size / 1e6 for n in ("raw", "source", "cdr")}
    seconds = float(best["seconds"])
    print(f"rows                            : {best['rows']:,}")
    print(f"dialer reports cdr (COPY)       : {seconds:7.2f} s  ({size['cdr']:.0f} MB, "
          f"peak RSS {best['peak_rss_mb']:.0f} MB)  runs {_runs(ours)}")  # fmt: skip
    print(f"raw COPY, the report's query    : {raw:7.2f} s  ({size['raw']:.0f} MB)  "
          f"runs {_runs(raw_runs)}")  # fmt: skip
    print(f"raw COPY, the cells' columns    : {source:7.2f} s  ({size['source']:.0f} MB)  "
          f"runs {_runs(source_runs)}")  # fmt: skip
    print(f"ratio export / raw, its query   : {seconds / raw:7.2f}x")
    print(f"ratio export / raw, its columns : {seconds / source:7.2f}x  (goal <= 1.5x)")
    if python is not None:
        print(f"Python rows (the SQLite path)   : {python['seconds']:7.2f} s  "
              f"(peak RSS {python['peak_rss_mb']:.0f} MB, "
              f"{python['seconds'] / source:.2f}x the raw COPY of its columns)")  # fmt: skip
    for path in workdir.iterdir():
        path.unlink()
    workdir.rmdir()
    return 0


def _runs(runs: list[dict[str, Any]] | list[float]) -> str:
    return ", ".join(f"{run if isinstance(run, float) else float(run['seconds']):.2f}"
                     for run in runs)  # fmt: skip


def _fill(engine: sa.Engine, rows: int) -> int:
    """One campaign of ``rows`` ended attempts over ``RECIPIENT_SHARE * rows`` recipients."""
    recipients = max(1, int(rows * RECIPIENT_SHARE))
    with Session(engine) as session:
        campaign = Campaign(name="bench cdr", type="press1", status="completed", config={})
        contacts = ContactList(name="bench cdr")
        session.add_all([campaign, contacts])
        session.flush()
        ids = {"campaign_id": campaign.id, "list_id": contacts.id}
        session.commit()
    with engine.begin() as conn:
        for statement in _FILL_RECIPIENTS.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement), {**ids, "recipients": recipients})
        conn.execute(sa.text(_FILL_ATTEMPTS), {**ids, "rows": rows, "recipients": recipients})
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return int(ids["campaign_id"])


def _raw_copy(engine: sa.Engine, campaign_id: int, path: Path, columns: tuple[str, ...]) -> float:
    """The report's rows as stored (the same join, filter and order), COPYed to ``path``: every
    attempt column, or only ``columns``."""
    a, p = _ATTEMPTS, _PROGRESS
    chosen = [a.c[name] for name in columns] if columns else [a]
    query = (
        sa.select(*chosen, p.c.recipient_id.label("list_recipient_id"))
        .select_from(a.outerjoin(p, p.c.id == a.c.campaign_recipient_id))
        .where(a.c.campaign_id == campaign_id)
        .order_by(a.c.created_at, a.c.id)
    )
    compiled = query.compile(dialect=engine.dialect)
    statement = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        started = time.perf_counter()
        with (
            driver.cursor() as cursor,
            path.open("wb") as out,
            cursor.copy(statement, compiled.params) as copy,
        ):
            for data in copy:
                out.write(data)
        seconds = time.perf_counter() - started
        driver.rollback()
        return seconds
    finally:
        raw.close()


def _run_export(url: str, campaign_id: int, path: Path, *, python: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.cdr_export", "--export-child", url,
               str(campaign_id), str(path)] + (["--python-rows"] if python else [])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"export failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _export(url: str, campaign_id: int, path: Path, *, python: bool) -> dict[str, Any]:
    """What ``dialer reports cdr --campaign ID -o PATH`` does, timed (the child's side)."""
    engine = make_engine(url)
    started = time.perf_counter()
    report = cdr_report(engine, campaign_id=campaign_id)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        rows = write_csv(out, report.header, report.rows) if python else report.write(out)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine.dispose()
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": peak_kb / 1024}


if __name__ == "__main__":
    sys.exit(main())
