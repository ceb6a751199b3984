"""SQLAlchemy 2 typed models for the core tables (DESIGN §4).

PostgreSQL is the record of truth; the same models run on SQLite for the embedded mode.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dialer.db.types import BigId, JSONDocument, TextList

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class ContactList(Base):
    __tablename__ = "contact_lists"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    source_file_name: Mapped[str | None] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    recipient_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = _now_column()


class ListImport(Base):
    """One run of the importer against a list: the audit trail of what came from where."""

    __tablename__ = "list_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="CASCADE"), nullable=False, index=True
    )
    file_name: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    encoding: Mapped[str] = mapped_column(String(40), nullable=False)
    delimiter: Mapped[str] = mapped_column(String(20), nullable=False)
    phone_column: Mapped[str] = mapped_column(Text, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    accepted: Mapped[int] = mapped_column(Integer, nullable=False)
    rejected: Mapped[dict[str, int]] = mapped_column(JSONDocument, nullable=False)
    seconds: Mapped[float] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = _now_column()


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (UniqueConstraint("list_id", "phone_e164"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="CASCADE"), nullable=False
    )
    phone_e164: Mapped[str] = mapped_column(String(20), nullable=False)
    #: Every zone the number may be in; the calling window is their intersection.
    timezones: Mapped[list[str]] = mapped_column(TextList, nullable=False)
    #: All other CSV columns, byte-for-byte as strings.
    fields: Mapped[dict[str, str]] = mapped_column(JSONDocument, nullable=False)
    #: Line number in the source file where this recipient's row starts.
    row_no: Mapped[int] = mapped_column(Integer, nullable=False)


class DncNumber(Base):
    __tablename__ = "dnc_numbers"

    phone_e164: Mapped[str] = mapped_column(String(20), primary_key=True)
    source: Mapped[str] = mapped_column(String(40), nullable=False, default="manual")
    reason: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = _now_column()


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    company_id: Mapped[str | None] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    #: broadcast | press1 | ai_agent
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    #: draft | scheduled | running | paused | completed | cancelled
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CampaignRecipient(Base):
    """The per-campaign progress of one recipient."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "recipient_id"),
        Index("ix_campaign_recipients_due", "campaign_id", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False
    )
    #: pending | in_progress | done | failed | skipped
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    final_outcome: Mapped[str | None] = mapped_column(String(30))


class CallAttempt(Base):
    """One dial of one number; ``id`` is the FreeSWITCH call uuid and the bgapi Job-UUID."""

    __tablename__ = "call_attempts"
    __table_args__ = (
        UniqueConstraint("campaign_recipient_id", "attempt_no"),
        Index("ix_call_attempts_campaign_state", "campaign_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    campaign_recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_recipients.id", ondelete="CASCADE")
    )
    attempt_no: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    #: queued | originating | ringing | answered | ended | failed
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="queued")
    fs_node: Mapped[str | None] = mapped_column(String(100))
    trunk: Mapped[str | None] = mapped_column(String(100))
    to_number: Mapped[str] = mapped_column(String(20), nullable=False)
    caller_id_number: Mapped[str | None] = mapped_column(String(40))
    caller_id_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now_column()
    originate_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ring_duration_sec: Mapped[float | None] = mapped_column()
    billsec: Mapped[int | None] = mapped_column(Integer)
    amd_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    amd_result: Mapped[str | None] = mapped_column(String(30))
    amd_cause: Mapped[str | None] = mapped_column(String(30))
    amd_duration_ms: Mapped[int | None] = mapped_column(Integer)
    ivr_menu: Mapped[str | None] = mapped_column(String(100))
    ivr_digit: Mapped[str | None] = mapped_column(String(10))
    ivr_attempts: Mapped[int | None] = mapped_column(Integer)
    ivr_result: Mapped[str | None] = mapped_column(String(20))
    queue_name: Mapped[str | None] = mapped_column(String(100))
    queue_id: Mapped[str | None] = mapped_column(String(100))
    queue_entered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    queue_wait_seconds: Mapped[float | None] = mapped_column()
    queue_result: Mapped[str | None] = mapped_column(String(20))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    agent_name: Mapped[str | None] = mapped_column(String(200))
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    ai: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    recording_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recording_url: Mapped[str | None] = mapped_column(Text)
    recording_duration_sec: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(30))
    hangup_cause: Mapped[str | None] = mapped_column(String(50))
    disposition: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)


class CallEvent(Base):
    """A FreeSWITCH event that belongs to an attempt; (node, Event-Sequence) dedupes."""

    __tablename__ = "call_events"
    __table_args__ = (
        UniqueConstraint("fs_node", "event_sequence"),
        Index("ix_call_events_attempt", "attempt_id", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("call_attempts.id", ondelete="CASCADE")
    )
    fs_node: Mapped[str] = mapped_column(String(100), nullable=False)
    event_sequence: Mapped[int] = mapped_column(BigId, nullable=False)
    event_uuid: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    company_id: Mapped[str | None] = mapped_column(String(100), index=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(Text, nullable=False)
    #: Event names this endpoint wants; empty means all.
    events: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _now_column()


class WebhookDelivery(Base):
    """Outbox row: written in the same transaction as the state change that caused it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_due", "status", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The ``webhook-id`` header: stable across retries so receivers can dedupe.
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("call_attempts.id", ondelete="SET NULL")
    )
    event_type: Mapped[str] = mapped_column(String(60), nullable=False)
    #: Position of this event within its call, for in-order delivery.
    sequence_no: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    #: pending | delivered | dead
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now_column()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
