"""The delivery log and what an operator does with it: look, replay, test, enable again.

Library first: ``dialer webhooks deliveries|replay|test|enable`` and the HTTP API call these.
A replay puts the same row back in the outbox: the same ``webhook-id`` (receivers dedupe on
it), its retry window starting again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.clock import Clock, get_clock
from dialer.config import get_settings
from dialer.db.models import WebhookDelivery, WebhookDeliveryTry, WebhookEndpoint
from dialer.timefmt import iso_ms
from dialer.webhooks.endpoints import WebhookError
from dialer.webhooks.events import TEST_EVENT, envelope, probe_id

if TYPE_CHECKING:  # the sender (httpx) loads only when a test event is sent
    from dialer.webhooks.delivery import Deliverer, Tried

_DELIVERIES = cast(sa.Table, WebhookDelivery.__table__)
_TRIES = cast(sa.Table, WebhookDeliveryTry.__table__)
_ENDPOINTS = cast(sa.Table, WebhookEndpoint.__table__)
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    event_id: str
    endpoint_id: int
    event: str
    call_uuid: str | None
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_try_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "webhookId": self.event_id,
            "endpointId": self.endpoint_id,
            "event": self.event,
            "callUuid": self.call_uuid,
            "status": self.status,
            "attempts": self.attempts,
            "lastStatusCode": self.last_status_code,
            "lastError": self.last_error,
            "nextTryAt": iso_ms(self.next_try_at) if self.status == "pending" else None,
            "createdAt": iso_ms(self.created_at),
            "deliveredAt": iso_ms(self.delivered_at),
        }


def list_deliveries(
    engine: Engine,
    *,
    failed: bool = False,
    endpoint_id: int | None = None,
    call_uuid: uuid.UUID | None = None,
    limit: int = DEFAULT_LIMIT,
    before_id: int | None = None,
) -> list[DeliveryInfo]:
    """Newest first. ``failed``: the dead-lettered and those waiting for a retry."""
    d = _DELIVERIES
    query = sa.select(d).order_by(d.c.id.desc()).limit(limit)
    if failed:
        query = query.where(
            sa.or_(d.c.status == "dead", sa.and_(d.c.status == "pending", d.c.attempts > 0))
        )
    if endpoint_id is not None:
        query = query.where(d.c.endpoint_id == endpoint_id)
    if call_uuid is not None:
        query = query.where(d.c.attempt_id == call_uuid)
    if before_id is not None:
        query = query.where(d.c.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        DeliveryInfo(
            id=r.id, event_id=r.event_id, endpoint_id=r.endpoint_id, event=r.event_type,
            call_uuid=None if r.attempt_id is None else str(r.attempt_id), status=r.status,
            attempts=r.attempts, last_status_code=r.last_status_code, last_error=r.last_error,
            next_try_at=r.next_try_at, created_at=r.created_at, delivered_at=r.delivered_at,
        )
        for r in rows
    ]  # fmt: skip


def delivery_tries(engine: Engine, delivery_id: int) -> list[dict[str, Any]]:
    t = _TRIES
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t).where(t.c.delivery_id == delivery_id).order_by(t.c.id)
        ).all()
    return [
        {"triedAt": iso_ms(r.tried_at), "statusCode": r.status_code,
         "latencyMs": r.latency_ms, "error": r.error}
        for r in rows
    ]  # fmt: skip


def replay(
    engine: Engine,
    *,
    delivery_id: int | None = None,
    since: datetime | None = None,
    endpoint_id: int | None = None,
    clock: Clock | None = None,
) -> int:
    """Send again: one delivery, or every one written since ``since`` (delivered, dead or
    waiting), optionally of one endpoint. Returns how many rows were put back."""
    if (delivery_id is None) == (since is None):
        raise WebhookError("replay: give a delivery id or --since TIME, not both")
    now = (clock or get_clock()).now()
    d, e = _DELIVERIES, _ENDPOINTS
    expires = now + timedelta(hours=get_settings().webhook_retry_hours)
    query = sa.update(d).values(
        status="pending", next_try_at=now, expires_at=expires, locked_until=None,
        delivered_at=None,
    )  # fmt: skip
    if delivery_id is not None:
        query = query.where(d.c.id == delivery_id)
    else:
        query = query.where(d.c.created_at >= since)
    if endpoint_id is not None:
        query = query.where(d.c.endpoint_id == endpoint_id)
    with engine.begin() as conn:
        if delivery_id is not None:
            row = conn.execute(
                sa.select(e.c.id, e.c.active, e.c.disabled_reason)
                .select_from(d.join(e, e.c.id == d.c.endpoint_id))
                .where(d.c.id == delivery_id)
            ).first()
            if row is None:
                raise WebhookError(f"no webhook delivery {delivery_id}")
            if not row.active:
                raise WebhookError(_disabled(row.id, row.disabled_reason))
        return int(conn.execute(query).rowcount or 0)


def enable_endpoint(engine: Engine, endpoint_id: int) -> None:
    """Active again after a 410 (its dead-lettered events can then be replayed)."""
    e = _ENDPOINTS
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(e)
            .where(e.c.id == endpoint_id)
            .values(active=True, disabled_reason=None, disabled_at=None)
        ).rowcount
    if not done:
        raise WebhookError(f"no webhook endpoint {endpoint_id}")


def send_test(
    engine: Engine, endpoint_id: int, *, deliverer: Deliverer | None = None
) -> Tried:
    """Send a ``webhook.test`` event to the endpoint now, signed as every event is; the try
    is in its delivery log like any other (retried if it failed)."""
    from dialer.webhooks.delivery import Deliverer

    e = _ENDPOINTS
    own = deliverer is None
    deliverer = deliverer or Deliverer(engine)
    try:
        now = deliverer.clock.now()
        with engine.begin() as conn:
            endpoint = conn.execute(
                sa.select(e.c.id, e.c.active, e.c.disabled_reason, e.c.url).where(
                    e.c.id == endpoint_id
                )
            ).first()
            if endpoint is None:
                raise WebhookError(f"no webhook endpoint {endpoint_id}")
            if not endpoint.active:
                raise WebhookError(_disabled(endpoint.id, endpoint.disabled_reason))
            data = {"endpointId": endpoint.id, "url": endpoint.url,
                    "message": "a test event from the dialer: no call is behind it"}  # fmt: skip
            new_id = conn.execute(
                sa.insert(_DELIVERIES)
                .values(
                    event_id=probe_id(), endpoint_id=endpoint.id, attempt_id=None,
                    event_type=TEST_EVENT, sequence_no=0,
                    payload=envelope(TEST_EVENT, now, data), status="pending", attempts=0,
                    next_try_at=now, created_at=now,
                    expires_at=now + timedelta(hours=deliverer.settings.webhook_retry_hours),
                )
                .returning(_DELIVERIES.c.id)
            ).scalar_one()  # fmt: skip
        report = deliverer.deliver_ids([new_id])
        if not report.tries:
            raise WebhookError(f"the test event {new_id} could not be claimed; try again")
        return report.tries[0]
    finally:
        if own:
            deliverer.close()


def _disabled(endpoint_id: int, reason: str | None) -> str:
    why = f" ({reason})" if reason else ""
    return (
        f"webhook endpoint {endpoint_id} is disabled{why}; "
        f"`dialer webhooks enable {endpoint_id}` first"
    )
