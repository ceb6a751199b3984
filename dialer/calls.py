"""Single calls with an idempotency key: the seeds' ``campaignOriginate``.

One call to one number, outside any campaign. The same idempotency key returns the same call
(``callUuid``, ``status``) and never places a second one, even when two requests race: the key
is unique in ``call_attempts`` and the row is inserted with ``ON CONFLICT DO NOTHING``, so
exactly one request creates it and every other one reads it. The same key with a different
request is refused (:class:`IdempotencyConflictError`; HTTP 422 in the API).

The attempt is created ``queued`` and handed to ``dispatch``; when no worker takes it (no
lease, no node) the scheduler hands it out again, with the same call uuid.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import phonenumbers
import sqlalchemy as sa
from phonenumbers.timezone import time_zones_for_number
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dialer.campaigns.model import MetadataValue, valid_e164, validation_problems
from dialer.campaigns.schedule import CallingHours, Schedule
from dialer.clock import Clock, get_clock
from dialer.config import ConfigError, Settings
from dialer.db.models import CallAttempt, DncNumber
from dialer.phone.reference import known_timezones
from dialer.trunks import DEFAULT_TRUNK

#: Only the legal hours apply to a single call (the caller chose the moment), with the
#: operator's stricter rules.
LEGAL_WINDOW = Schedule(window="08:00-21:00")


class CallRequest(BaseModel):
    """What ``campaignOriginate`` carries; JSON uses the seeds' camelCase names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    to_number: str = Field(alias="toNumber")
    caller_id_number: str = Field(alias="callerIdNumber")
    caller_id_name: str | None = Field(default=None, alias="callerIdName", max_length=60)
    ring_timeout_sec: int = Field(default=30, ge=5, le=300, alias="ringTimeoutSec")
    max_duration_sec: int = Field(default=300, ge=10, le=14_400, alias="maxDurationSec")
    trunk: str = Field(default=DEFAULT_TRUNK, pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)

    @field_validator("to_number", "caller_id_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        return valid_e164(value)

    def fingerprint(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class CallError(ValueError):
    """The call cannot be placed; the message says why (a user's error, not a crash)."""


class IdempotencyConflictError(CallError):
    """The key was first used with a different request."""


@dataclass(frozen=True)
class CallResult:
    call_uuid: str
    status: str
    outcome: str | None
    created: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "callUuid": self.call_uuid,
            "status": self.status,
            "outcome": self.outcome,
            "created": self.created,
        }


def parse_call_request(data: dict[str, Any]) -> CallRequest:
    try:
        return CallRequest.model_validate(data)
    except ValidationError as exc:
        raise CallError("; ".join(validation_problems(exc))) from None


def start_call(
    engine: Engine,
    request: CallRequest,
    *,
    idempotency_key: str | None,
    settings: Settings,
    dispatch: Callable[[Sequence[str]], None] | None = None,
    clock: Clock | None = None,
) -> CallResult:
    """Queue one call (or return the one this key already made) and dispatch it."""
    clock = clock or get_clock()
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise CallError("idempotency key must be 1 to 200 characters")
    try:
        settings.trunk(request.trunk)
    except ConfigError as exc:
        raise CallError(str(exc).removeprefix("invalid configuration: ")) from None
    fingerprint = request.fingerprint()
    if idempotency_key is not None:
        existing = _by_key(engine, idempotency_key)
        if existing is not None:
            return _replay(existing, fingerprint)

    now = clock.now()
    zones = list(
        known_timezones(tuple(time_zones_for_number(phonenumbers.parse(request.to_number))))
    )
    with Session(engine) as session:
        if session.get(DncNumber, request.to_number) is not None:
            raise CallError(f"{request.to_number} is on the do-not-call list")
    legal = CallingHours(LEGAL_WINDOW, settings.calling_rules)
    reason = legal.blocked_reason(zones, now, request.to_number)
    if reason is not None:
        opens = legal.next_open(zones, now, request.to_number)
        when = f"; it may be called from {opens.isoformat()}" if opens else ""
        raise CallError(
            f"{request.to_number} may not be called now ({reason.replace('_', ' ')}: "
            f"08:00-21:00 in {', '.join(zones) or 'an unknown time zone'}){when}"
        )

    attempt_id = uuid.uuid4()
    row: dict[str, Any] = {
        "id": attempt_id,
        "campaign_id": None,
        "attempt_no": 1,
        "idempotency_key": idempotency_key,
        "request_hash": fingerprint,
        "state": "queued",
        "state_changed_at": now,
        "claimed_by": "api",
        "trunk": request.trunk,
        "to_number": request.to_number,
        "caller_id_number": request.caller_id_number,
        "caller_id_name": request.caller_id_name,
        "created_at": now,
        "dispatched_at": now if dispatch is not None else None,
        "options": {
            "ring_timeout": request.ring_timeout_sec,
            "max_duration": request.max_duration_sec,
            "caller_id_name": request.caller_id_name,
            "variables": {},
        },
        "metadata": dict(request.metadata),
        "amd_enabled": False,
        "recording_enabled": False,
    }
    table = cast(sa.Table, CallAttempt.__table__)
    insert = (
        postgresql.insert(table) if engine.dialect.name == "postgresql" else sqlite.insert(table)
    )
    with engine.begin() as conn:
        # RETURNING, not rowcount: drivers report -1 for an INSERT that did nothing
        created = conn.execute(
            insert.values(**row)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.id)
        ).first()
    if created is None:  # a racing request with the same key won
        assert idempotency_key is not None
        existing = _by_key(engine, idempotency_key)
        assert existing is not None
        return _replay(existing, fingerprint)
    if dispatch is not None:
        try:
            dispatch([str(attempt_id)])
        except Exception:
            # the scheduler re-dispatches undispatched queued attempts
            with engine.begin() as conn:
                conn.execute(
                    sa.update(table).where(table.c.id == attempt_id).values(dispatched_at=None)
                )
    return CallResult(str(attempt_id), "queued", None, True)


def get_call(engine: Engine, call_uuid: str) -> CallResult | None:
    try:
        key = uuid.UUID(call_uuid)
    except ValueError:
        return None
    with Session(engine) as session:
        attempt = session.get(CallAttempt, key)
        if attempt is None:
            return None
        return CallResult(str(attempt.id), attempt.state, attempt.outcome, False)


def _by_key(engine: Engine, key: str) -> CallAttempt | None:
    with Session(engine) as session:
        attempt = session.scalars(
            sa.select(CallAttempt).where(CallAttempt.idempotency_key == key)
        ).one_or_none()
        if attempt is not None:
            session.expunge(attempt)
        return attempt


def _replay(existing: CallAttempt, fingerprint: str) -> CallResult:
    if existing.request_hash != fingerprint:
        raise IdempotencyConflictError(
            "this idempotency key was already used with a different request "
            f"(call {existing.id}); use a new key for a new call"
        )
    return CallResult(str(existing.id), existing.state, existing.outcome, False)
