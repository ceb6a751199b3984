"""The outcomes report: one row per recipient of a campaign, with how its last call went.

The list's own CSV columns come right after ``number``, under their own (normalised) field
names: the union over the campaign's recipients, in the order they are first seen going down
the recipients, and by name among the new ones of one recipient (PostgreSQL's jsonb does not
keep the file's column order, so this is the order both backends can give). A list column whose
name is one of the report's own columns is written as ``list.<name>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.call_detail import disposition_of
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, Recipient
from dialer.reports.cells import cell, iso, phone_cell
from dialer.reports.stream import stream

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_PROGRESS = cast(sa.Table, CampaignRecipient.__table__)
_RECIPIENTS = cast(sa.Table, Recipient.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)

#: The report's own columns after the list's: (header, attempt or progress column).
COLUMNS: tuple[str, ...] = (
    "status", "final_outcome", "attempts", "last_call_uuid", "started_at", "answered_at",
    "ended_at", "billsec", "amd_result", "digit_pressed", "queue_wait_seconds", "agent_id",
    "agent_name", "disposition", "hangup_cause",
)  # fmt: skip


class CampaignNotFoundError(LookupError):
    """No campaign has this id (the message says which)."""


@dataclass(frozen=True)
class Report:
    """A report ready to write: its header and its rows (a generator: read it once)."""

    header: Sequence[str]
    rows: Iterator[list[Any]]
    total: int


def check_campaign(engine: Engine, campaign_id: int) -> None:
    """Raise :class:`CampaignNotFoundError` unless the campaign exists."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(_CAMPAIGNS.c.id).where(_CAMPAIGNS.c.id == campaign_id)
        ).first()
    if found is None:
        raise CampaignNotFoundError(f"no campaign {campaign_id}")


def outcomes_report(engine: Engine, campaign_id: int) -> Report:
    """The outcomes of campaign ``campaign_id``, streamed. Raises
    :class:`CampaignNotFoundError`."""
    check_campaign(engine, campaign_id)
    fields = list_columns(engine, campaign_id)
    header = ["number"] + [f"list.{n}" if n in _OWN else n for n in fields] + list(COLUMNS)
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).where(_PROGRESS.c.campaign_id == campaign_id)
        ).scalar_one()
    return Report(header, _rows(engine, campaign_id, fields), int(total))


_OWN = frozenset(("number", *COLUMNS))


def list_columns(engine: Engine, campaign_id: int) -> list[str]:
    """The union of the recipients' field names, in first-seen order (one streamed pass: only
    the names are kept)."""
    r, p = _RECIPIENTS, _PROGRESS
    query = (
        sa.select(r.c.fields)
        .select_from(p.join(r, r.c.id == p.c.recipient_id))
        .where(p.c.campaign_id == campaign_id)
        .order_by(p.c.id)
    )
    seen: dict[str, None] = {}
    for row in stream(engine, query):
        for name in sorted(str(key) for key in row["fields"] or {}):
            seen.setdefault(name, None)
    return list(seen)


def _last_attempts(campaign_id: int) -> sa.Subquery:
    """Each recipient's last attempt (highest attempt number, then newest)."""
    a = _ATTEMPTS
    rank = sa.func.row_number().over(
        partition_by=a.c.campaign_recipient_id,
        order_by=(a.c.attempt_no.desc(), a.c.created_at.desc()),
    )
    return (
        sa.select(a, rank.label("rank"))
        .where(a.c.campaign_id == campaign_id, a.c.campaign_recipient_id.is_not(None))
        .subquery("last")
    )


def _rows(engine: Engine, campaign_id: int, fields: list[str]) -> Iterator[list[Any]]:
    r, p = _RECIPIENTS, _PROGRESS
    last = _last_attempts(campaign_id)
    query = (
        sa.select(
            r.c.phone_e164, r.c.fields, p.c.status, p.c.final_outcome, p.c.attempts,
            last.c.id.label("call_uuid"), last.c.started_at, last.c.originate_sent_at,
            last.c.answered_at, last.c.ended_at, last.c.billsec, last.c.amd_result,
            last.c.ivr_digit, last.c.queue_wait_seconds, last.c.agent_id, last.c.agent_name,
            last.c.disposition, last.c.handoff_type, last.c.hangup_cause,
        )
        .select_from(
            p.join(r, r.c.id == p.c.recipient_id).outerjoin(
                last, sa.and_(last.c.campaign_recipient_id == p.c.id, last.c.rank == 1)
            )
        )
        .where(p.c.campaign_id == campaign_id)
        .order_by(p.c.id)
    )  # fmt: skip
    for row in stream(engine, query):
        own = row["fields"] or {}
        yield [
            phone_cell(row["phone_e164"]),
            *(cell(own.get(name)) for name in fields),
            cell(row["status"]),
            cell(row["final_outcome"]),
            row["attempts"],
            "" if row["call_uuid"] is None else str(row["call_uuid"]),
            iso(row["started_at"] or row["originate_sent_at"]),
            iso(row["answered_at"]),
            iso(row["ended_at"]),
            cell(row["billsec"]),
            cell(row["amd_result"]),
            cell(row["ivr_digit"]),
            cell(row["queue_wait_seconds"]),
            cell(row["agent_id"]),
            cell(row["agent_name"]),
            cell(disposition_of(row["disposition"], row["handoff_type"])),
            cell(row["hangup_cause"]),
        ]
