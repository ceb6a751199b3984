"""SQLAlchemy 2 typed models for the core tables (DESIGN §4).

PostgreSQL is the record of truth; the same models run on SQLite for the embedded mode.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
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

from dialer.db.types import BigId, JSONDocument, TextList, UTCDateTime

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
    return mapped_column(UTCDateTime(), server_default=func.now(), nullable=False)


def _one_of(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    """A CHECK that ``column`` holds one of ``values`` (or NULL, where the column allows it)."""
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name or f"{column}_valid")


#: Campaign lifecycle (``scheduled`` is ``running`` with a start time still in the future).
CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")
#: A recipient's progress in one campaign; ``done``, ``skipped`` and ``cancelled`` are final.
RECIPIENT_STATUSES = ("pending", "active", "done", "skipped", "cancelled")
FINAL_RECIPIENT_STATUSES = ("done", "skipped", "cancelled")
#: An attempt's life: ``queued`` until a worker claims it (compare-and-set), ``originating``
#: once the claim is committed (before bgapi), then what the switch reports. ``ended`` always
#: carries an outcome; ``cancelled`` was never sent to a switch (its campaign was cancelled).
ATTEMPT_STATES = ("queued", "originating", "ringing", "answered", "ended", "cancelled")
LIVE_ATTEMPT_STATES = ("originating", "ringing", "answered")
#: The customer-facing outcomes (DESIGN §5).
OUTCOMES = (
    "no_answer",
    "busy",
    "invalid_number",
    "amd_machine",
    "voicemail_left",
    "ivr_timeout",
    "ivr_hangup",
    "queue_timeout",
    "queue_hangup",
    "agent_answered",
    "transferred",
    "ai_completed",
    "opted_out",
    "completed",
    "failed",
)


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
    __table_args__ = (_one_of("status", CAMPAIGN_STATUSES),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    company_id: Mapped[str | None] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    #: broadcast | press1 | ai_agent
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    #: draft | scheduled | running | paused | completed | cancelled
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    created_at: Mapped[datetime] = _now_column()
    #: Moves on every UPDATE through the ORM; lifecycle functions also set it from the clock.
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), onupdate=func.now(), nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CampaignRecipient(Base):
    """The per-campaign progress of one recipient."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "recipient_id"),
        Index("ix_campaign_recipients_due", "campaign_id", "status", "next_attempt_at"),
        _one_of("status", RECIPIENT_STATUSES),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # RESTRICT: call history is kept for years (DESIGN §4); a list or campaign with calls
    # cannot be deleted out from under it.
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="RESTRICT"), nullable=False
    )
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("recipients.id", ondelete="RESTRICT"), nullable=False
    )
    #: pending | active | done | skipped | cancelled (see RECIPIENT_STATUSES)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    #: Attempts that reached a switch (or were refused by it); the retry rules count these.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last outcome, or for ``skipped`` why it was never called (dnc, unknown_zone, ...).
    final_outcome: Mapped[str | None] = mapped_column(String(30))
    #: Why the scheduler is holding this recipient back right now (outside_window, ...).
    blocked_reason: Mapped[str | None] = mapped_column(String(30))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CallAttempt(Base):
    """One dial of one number; ``id`` is the FreeSWITCH call uuid and the bgapi Job-UUID."""

    __tablename__ = "call_attempts"
    __table_args__ = (
        UniqueConstraint("campaign_recipient_id", "attempt_no"),
        Index("ix_call_attempts_campaign_state", "campaign_id", "state"),
        # the sweeper and the re-dispatcher: "attempts in state S since before T"
        Index("ix_call_attempts_state_changed", "state", "state_changed_at"),
        _one_of("state", ATTEMPT_STATES),
        _one_of("outcome", OUTCOMES),
        CheckConstraint(
            "state <> 'ended' OR outcome IS NOT NULL", name="ended_has_outcome"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    #: NULL for a single call (``dialer call``): it belongs to no campaign.
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="RESTRICT")
    )
    campaign_recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_recipients.id", ondelete="RESTRICT")
    )
    attempt_no: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    #: sha256 of the request an idempotency key was first used with (same key, other body: 422).
    request_hash: Mapped[str | None] = mapped_column(String(64))
    #: queued | originating | ringing | answered | ended | cancelled (see ATTEMPT_STATES)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="queued")
    state_changed_at: Mapped[datetime] = _now_column()
    #: Who moved it last (``worker@host:pid``, ``consumer:fs1``, ``sweeper``, ``scheduler``).
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When its task was last handed to the broker; NULL = the scheduler must (re)dispatch it.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A queued attempt is not dispatched before this (lease or rate refused: try again then).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Per-call settings fixed when it was queued: ring_timeout, max_duration, variables.
    options: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    #: The caller's metadata, echoed in webhooks (companyId, campaignId, recipientId, ...).
    call_metadata: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONDocument, nullable=False, default=dict
    )
    #: The switch instance that ran it (Core-UUID): a restarted node has a new one.
    core_uuid: Mapped[str | None] = mapped_column(String(64))
    fs_node: Mapped[str | None] = mapped_column(String(100))
    trunk: Mapped[str | None] = mapped_column(String(100))
    to_number: Mapped[str] = mapped_column(String(20), nullable=False)
    caller_id_number: Mapped[str | None] = mapped_column(String(40))
    caller_id_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now_column()
    originate_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ring_duration_sec: Mapped[float | None] = mapped_column()
    billsec: Mapped[int | None] = mapped_column(Integer)
    amd_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    amd_result: Mapped[str | None] = mapped_column(String(30))
    amd_cause: Mapped[str | None] = mapped_column(String(30))
    amd_duration_ms: Mapped[int | None] = mapped_column(Integer)
    #: ``amd`` (mod_amd, avmd for the beep) or ``avmd`` (the fallback: a beep means machine)
    amd_method: Mapped[str | None] = mapped_column(String(20))
    ivr_menu: Mapped[str | None] = mapped_column(String(100))
    ivr_digit: Mapped[str | None] = mapped_column(String(10))
    ivr_attempts: Mapped[int | None] = mapped_column(Integer)
    ivr_result: Mapped[str | None] = mapped_column(String(20))
    queue_name: Mapped[str | None] = mapped_column(String(100))
    queue_id: Mapped[str | None] = mapped_column(String(100))
    queue_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    queue_wait_seconds: Mapped[float | None] = mapped_column()
    queue_result: Mapped[str | None] = mapped_column(String(20))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    agent_name: Mapped[str | None] = mapped_column(String(200))
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    #: The handoff the flow took (queue | extension | ai_agent) and its target.
    handoff_type: Mapped[str | None] = mapped_column(String(20))
    handoff_target: Mapped[str | None] = mapped_column(String(200))
    #: An answered human who got no agent within 2 s of the prompt's end (compliance rate).
    abandoned: Mapped[bool | None] = mapped_column(Boolean)
    ai: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    recording_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recording_url: Mapped[str | None] = mapped_column(Text)
    recording_duration_sec: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(30))
    hangup_cause: Mapped[str | None] = mapped_column(String(50))
    disposition: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)


class CallEvent(Base):
    """A FreeSWITCH event that belongs to an attempt.

    (Core-UUID, Event-Sequence) dedupes: the sequence restarts at 1 when FreeSWITCH restarts,
    and the restarted switch has a new Core-UUID (capture 14).
    """

    __tablename__ = "call_events"
    __table_args__ = (
        UniqueConstraint("core_uuid", "event_sequence"),
        Index("ix_call_events_attempt", "attempt_id", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("call_attempts.id", ondelete="RESTRICT")
    )
    fs_node: Mapped[str] = mapped_column(String(100), nullable=False)
    core_uuid: Mapped[str] = mapped_column(String(64), nullable=False)
    event_sequence: Mapped[int] = mapped_column(BigId, nullable=False)
    event_uuid: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    company_id: Mapped[str | None] = mapped_column(String(100), index=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(Text, nullable=False)
    #: Only this campaign's calls (None: every call of the company).
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    #: Event names this endpoint wants; empty means all.
    events: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: Why it stopped getting events (a 410 Gone from the receiver); None while active.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Since when its receiver fails every event (an outage, not one event it rejects);
    #: the first success after it makes what waits for a retry due at once.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _now_column()


DELIVERY_STATUSES = ("pending", "delivered", "dead")


class WebhookDelivery(Base):
    """Outbox row: written in the same transaction as the state change that caused it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_due", "status", "next_try_at"),
        # a call's deliveries to one endpoint, in order: the later wait for the earlier
        Index("ix_webhook_deliveries_chain", "attempt_id", "endpoint_id", "sequence_no"),
        _one_of("status", DELIVERY_STATUSES),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The ``webhook-id`` header: stable across retries so receivers can dedupe.
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("call_attempts.id", ondelete="RESTRICT")
    )
    event_type: Mapped[str] = mapped_column(String(60), nullable=False)
    #: Position of this event within its call, for in-order delivery.
    sequence_no: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    #: pending | delivered | dead
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A deliverer holds the row until then (one that died lets go when it passes).
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Retried until then, then dead-lettered (24 h after it was written or replayed).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now_column()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDeliveryTry(Base):
    """One try of a delivery: the log behind ``dialer webhooks deliveries``."""

    __tablename__ = "webhook_delivery_tries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    tried_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: The HTTP status, None when no answer came (refused, timed out)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
