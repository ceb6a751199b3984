"""The CDR report: one row per call attempt, of one campaign or all, in a time range.

The range is on the attempt's creation time (every attempt has one, even one that never
dialled): ``since`` inclusive, ``until`` exclusive.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.db.models import CallAttempt, CampaignRecipient
from dialer.reports.cells import cell, iso, phone_cell
from dialer.reports.outcomes import Report, check_campaign
from dialer.reports.stream import stream

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_PROGRESS = cast(sa.Table, CampaignRecipient.__table__)

HEADER: tuple[str, ...] = (
    "call_uuid", "campaign_id", "recipient_id", "to_number", "caller_id_number", "attempt_no",
    "state", "outcome", "created_at", "started_at", "answered_at", "ended_at",
    "ring_duration_sec", "billsec", "amd_enabled", "amd_result", "amd_cause", "amd_duration_ms",
    "ivr_digit", "ivr_attempts", "ivr_result", "queue_name", "queue_entered_at",
    "queue_wait_seconds", "queue_result", "agent_id", "agent_name", "talk_seconds",
    "handoff_type", "handoff_target", "abandoned", "recording_path",
    "recording_duration_sec", "hangup_cause", "disposition", "fs_node", "error",
)  # fmt: skip


def cdr_report(
    engine: Engine,
    *,
    campaign_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Report:
    """Every attempt that matches, oldest first, streamed. Raises
    :class:`~dialer.reports.outcomes.CampaignNotFoundError` for an unknown campaign."""
    if campaign_id is not None:
        check_campaign(engine, campaign_id)
    a = _ATTEMPTS
    where: list[sa.ColumnElement[bool]] = []
    if campaign_id is not None:
        where.append(a.c.campaign_id == campaign_id)
    if since is not None:
        where.append(a.c.created_at >= since)
    if until is not None:
        where.append(a.c.created_at < until)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(a).where(*where)).scalar_one()
    p = _PROGRESS
    query = (
        sa.select(a, p.c.recipient_id.label("list_recipient_id"))
        .select_from(a.outerjoin(p, p.c.id == a.c.campaign_recipient_id))
        .where(*where)
        .order_by(a.c.created_at, a.c.id)
    )
    return Report(HEADER, _rows(engine, query), int(total))


def _rows(engine: Engine, query: sa.Select[Any]) -> Iterator[list[Any]]:
    for row in stream(engine, query):
        metadata = row["metadata"] or {}
        yield [
            str(row["id"]),
            cell(row["campaign_id"]),
            cell(row["list_recipient_id"] or metadata.get("recipientId")),
            phone_cell(row["to_number"]),
            phone_cell(row["caller_id_number"]),
            row["attempt_no"],
            cell(row["state"]),
            cell(row["outcome"]),
            iso(row["created_at"]),
            iso(row["started_at"] or row["originate_sent_at"]),
            iso(row["answered_at"]),
            iso(row["ended_at"]),
            cell(row["ring_duration_sec"]),
            cell(row["billsec"]),
            cell(row["amd_enabled"]),
            cell(row["amd_result"]),
            cell(row["amd_cause"]),
            cell(row["amd_duration_ms"]),
            cell(row["ivr_digit"]),
            cell(row["ivr_attempts"]),
            cell(row["ivr_result"]),
            cell(row["queue_name"]),
            iso(row["queue_entered_at"]),
            cell(row["queue_wait_seconds"]),
            cell(row["queue_result"]),
            cell(row["agent_id"]),
            cell(row["agent_name"]),
            cell(row["talk_seconds"]),
            cell(row["handoff_type"]),
            cell(row["handoff_target"]),
            cell(row["abandoned"]),
            cell(row["recording_url"]),
            cell(row["recording_duration_sec"]),
            cell(row["hangup_cause"]),
            cell(row["disposition"]),
            cell(row["fs_node"]),
            cell(row["error"]),
        ]
