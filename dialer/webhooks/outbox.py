"""The webhook outbox: a call's events written as delivery rows in the transaction that
changed the call (DESIGN §2, §5), so an event is never sent for a change that rolled back and
never lost for one that committed.

One row per (event, endpoint that wants it). The payload is the call's contract object as the
transaction sees it (``campaign.completed`` carries everything; a stage event what was known
then). Writing costs three statements whatever the number of calls (the active endpoints, the
calls, the rows), one when no endpoint is active; an event written twice (its id is derived
from the call) is one row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dialer.call_detail import call_details
from dialer.config import get_settings
from dialer.db.models import WebhookDelivery, WebhookEndpoint
from dialer.webhooks.endpoints import EVENT_NAMES
from dialer.webhooks.events import SEQUENCE, envelope, event_id, occurred_at

_ENDPOINTS = cast(sa.Table, WebhookEndpoint.__table__)
_DELIVERIES = cast(sa.Table, WebhookDelivery.__table__)

#: (call uuid, the names of the events it reached), as the lifecycle emits them
Emitted = tuple[uuid.UUID, Sequence[str]]


def enqueue(session: Session, emitted: Sequence[Emitted], *, now: datetime) -> int:
    """Write the delivery rows of ``emitted`` in the session's transaction; returns how many
    rows were new."""
    wanted = [(aid, [n for n in names if n in SEQUENCE]) for aid, names in emitted]
    wanted = [(aid, names) for aid, names in wanted if names]
    if not wanted:
        return 0
    conn = session.connection()
    endpoints = conn.execute(
        sa.select(
            _ENDPOINTS.c.id, _ENDPOINTS.c.company_id, _ENDPOINTS.c.campaign_id, _ENDPOINTS.c.events
        ).where(_ENDPOINTS.c.active.is_(True))
    ).all()
    if not endpoints:
        return 0
    settings = get_settings()
    details = call_details(
        conn, {aid for aid, _ in wanted}, recordings_url=settings.recordings_url
    )
    expires = now + timedelta(hours=settings.webhook_retry_hours)
    rows: list[dict[str, Any]] = []
    for aid, names in wanted:
        found = details.get(aid)
        if found is None:
            continue
        campaign_id, detail = found
        for name in sorted(set(names), key=SEQUENCE.__getitem__):
            payload = envelope(name, occurred_at(name, detail, now), detail)
            for endpoint in endpoints:
                if _wants(endpoint, name, campaign_id, detail):
                    rows.append(
                        {
                            "event_id": event_id(aid, name),
                            "endpoint_id": endpoint.id,
                            "attempt_id": aid,
                            "event_type": name,
                            "sequence_no": SEQUENCE[name],
                            "payload": payload,
                            "status": "pending",
                            "attempts": 0,
                            "next_try_at": now,
                            "expires_at": expires,
                            "created_at": now,
                        }
                    )
    if not rows:
        return 0
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(_DELIVERIES)
        .on_conflict_do_nothing(index_elements=["event_id", "endpoint_id"])
        .returning(_DELIVERIES.c.id)
    )
    return len(conn.execute(statement, rows).all())


def _wants(endpoint: Any, name: str, campaign_id: int | None, detail: dict[str, Any]) -> bool:
    """The endpoint's filters: its events (none: all), its campaign, its company."""
    if name not in (endpoint.events or EVENT_NAMES):
        return False
    if endpoint.campaign_id is not None and endpoint.campaign_id != campaign_id:
        return False
    return endpoint.company_id is None or endpoint.company_id == detail.get("companyId")
