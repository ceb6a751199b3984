"""Webhook endpoints: where a customer's CRM hears about calls (DESIGN §5).

An endpoint has a URL, a signing secret (Standard Webhooks: ``whsec_`` + base64 of random
bytes, shown once when it is created), the events it wants (none: all seven) and optionally one
campaign. Library first: ``dialer webhooks`` and the HTTP API call these.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.db.models import Campaign, WebhookEndpoint
from dialer.lifecycle import ANSWERED, CALL_INITIATED, COMPLETED, STAGES

#: The seven events, in the order a call reaches them.
EVENT_NAMES = (CALL_INITIATED, ANSWERED, *STAGES, COMPLETED)
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
MAX_URL = 2048

_ENDPOINTS = cast(sa.Table, WebhookEndpoint.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)


class WebhookError(ValueError):
    """A bad endpoint request; the message says what and how to fix it."""


@dataclass(frozen=True)
class EndpointInfo:
    id: int
    url: str
    #: the events it gets, in the order a call reaches them (all seven when none was chosen)
    events: tuple[str, ...]
    campaign_id: int | None
    company_id: str | None
    active: bool
    created_at: datetime
    #: the secret's first characters, to tell endpoints apart (never the secret)
    secret_hint: str
    #: why it is inactive (a 410 Gone from the receiver), None while active
    disabled_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "campaignId": self.campaign_id,
            "companyId": self.company_id,
            "active": self.active,
            "createdAt": self.created_at.isoformat(),
            "secretHint": self.secret_hint,
            "disabledReason": self.disabled_reason,
        }


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: EndpointInfo
    #: the signing secret: given once, here; only its hint is shown afterwards
    secret: str


def check_url(url: str) -> str:
    url = url.strip()
    if not url:
        raise WebhookError("url: must not be empty")
    if len(url) > MAX_URL:
        raise WebhookError(f"url: at most {MAX_URL} characters")
    if any(not c.isprintable() or c.isspace() for c in url):
        raise WebhookError("url: must not contain blanks or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise WebhookError(f"url: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        example = "https://crm.example.com/hooks"
        raise WebhookError(f"url: must be an http(s) URL like {example}, got {url!r}")
    if parts.username or parts.password:
        raise WebhookError("url: must not carry a user or password (the signature authenticates)")
    return url


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    """The chosen events in contract order; an unknown one is an error naming the valid."""
    chosen = {e.strip() for e in events if e.strip()}
    unknown = sorted(chosen - set(EVENT_NAMES))
    if unknown:
        raise WebhookError(
            f"events: unknown {', '.join(unknown)} (known: {', '.join(EVENT_NAMES)})"
        )
    return tuple(name for name in EVENT_NAMES if name in chosen)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def add_endpoint(
    engine: Engine,
    url: str,
    *,
    events: Iterable[str] = (),
    campaign_id: int | None = None,
    company_id: str | None = None,
) -> NewEndpoint:
    """Register an endpoint; its secret is in the result and nowhere else afterwards."""
    url = check_url(url)
    chosen = check_events(events)
    secret = new_secret()
    with engine.begin() as conn:
        if campaign_id is not None:
            found = conn.execute(
                sa.select(_CAMPAIGNS.c.company_id).where(_CAMPAIGNS.c.id == campaign_id)
            ).first()
            if found is None:
                raise WebhookError(f"campaign: no campaign {campaign_id}")
            company_id = company_id or found.company_id
        row = conn.execute(
            sa.insert(_ENDPOINTS)
            .values(url=url, secret=secret, events=list(chosen), campaign_id=campaign_id,
                    company_id=company_id, active=True)
            .returning(*_ENDPOINTS.c)
        ).one()  # fmt: skip
    return NewEndpoint(_info(row), secret)


def list_endpoints(engine: Engine) -> list[EndpointInfo]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_ENDPOINTS).order_by(_ENDPOINTS.c.id)).all()
    return [_info(row) for row in rows]


def remove_endpoint(engine: Engine, endpoint_id: int) -> None:
    """Forget an endpoint and its delivery log."""
    with engine.begin() as conn:
        gone = conn.execute(sa.delete(_ENDPOINTS).where(_ENDPOINTS.c.id == endpoint_id)).rowcount
    if not gone:
        raise WebhookError(f"no webhook endpoint {endpoint_id}")


def _info(row: Any) -> EndpointInfo:
    events = tuple(row.events or ()) or EVENT_NAMES
    return EndpointInfo(
        id=row.id,
        url=row.url,
        events=events,
        campaign_id=row.campaign_id,
        company_id=row.company_id,
        active=row.active,
        created_at=row.created_at,
        secret_hint=row.secret[: len(SECRET_PREFIX) + 4] + "…",
        disabled_reason=row.disabled_reason,
    )
