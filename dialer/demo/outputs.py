"""The demo's files: the reports of ``dialer reports`` written by their library functions.

``outcomes.csv`` (one row per recipient), ``cdr.csv`` (one per call attempt), ``summary.json``
(the funnel and rates, as ``dialer reports summary --json``) and ``chart.png``, all of the
demo's campaign; the summary is taken at the simulated moment the run ended, so its 30-day
abandonment window holds the demo's calls. ``webhooks.jsonl`` is the receiver's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from dialer.reports.cdr import cdr_report
from dialer.reports.chart import write_chart
from dialer.reports.outcomes import Report, outcomes_report
from dialer.reports.stream import write_csv
from dialer.reports.summary import campaign_summary

OUTCOMES = "outcomes.csv"
CDR = "cdr.csv"
SUMMARY = "summary.json"
CHART = "chart.png"
WEBHOOKS = "webhooks.jsonl"


@dataclass(frozen=True)
class Written:
    outcomes_rows: int
    cdr_rows: int
    summary: dict[str, Any]
    paths: tuple[Path, ...]


def write_outputs(engine: Engine, campaign_id: int, out: Path, *, now: datetime) -> Written:
    outcomes = _write_report(outcomes_report(engine, campaign_id), out / OUTCOMES)
    cdr = _write_report(cdr_report(engine, campaign_id=campaign_id), out / CDR)
    summary = campaign_summary(engine, campaign_id, now=now)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_chart(engine, campaign_id, out / CHART, now=now)
    paths = tuple(out / name for name in (OUTCOMES, CDR, SUMMARY, CHART, WEBHOOKS))
    return Written(outcomes, cdr, summary, paths)


def _write_report(report: Report, path: Path) -> int:
    # UTF-8 with a BOM, as ``dialer reports``: a spreadsheet reads the accents right
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        return write_csv(out, report.header, report.rows)
