"""The demo's webhook receiver: a signed request is answered 2xx and written; a bad, missing or
stale signature is refused and never written (requests over real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from dialer.demo.receiver import WebhookReceiver
from dialer.webhooks.endpoints import new_secret

BODY = json.dumps(
    {"event": "campaign.completed", "timestamp": "2026-06-02T15:00:00.000Z", "data": {"n": 1}}
)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    running = WebhookReceiver(tmp_path / "webhooks.jsonl").start()
    yield running
    running.stop()


def _headers(secret: str, msg_id: str, at: datetime, body: str = BODY) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
        "content-type": "application/json",
    }


def _lines(receiver: WebhookReceiver) -> list[dict[str, object]]:
    text = receiver.path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_a_signed_event_is_answered_2xx_and_written_as_verified(
    receiver: WebhookReceiver,
) -> None:
    secret = new_secret()
    receiver.trust(secret)
    now = datetime.now(UTC)
    done = httpx.post(receiver.url, content=BODY, headers=_headers(secret, "msg_1", now))
    assert 200 <= done.status_code < 300
    receiver.stop()
    (line,) = _lines(receiver)
    assert line["webhook_id"] == "msg_1"
    assert line["event"] == "campaign.completed"
    assert line["verified"] is True
    assert line["payload"] == json.loads(BODY)
    assert (receiver.received, receiver.verified, receiver.rejected) == (1, 1, 0)
    assert receiver.by_event == {"campaign.completed": 1}


@pytest.mark.parametrize("problem", ["other secret", "changed body", "stale", "unsigned"])
def test_a_bad_signature_is_refused_and_not_written(
    receiver: WebhookReceiver, problem: str
) -> None:
    secret = new_secret()
    receiver.trust(secret)
    now = datetime.now(UTC)
    body = BODY
    headers = _headers(secret, "msg_2", now)
    if problem == "other secret":
        headers = _headers(new_secret(), "msg_2", now)
    elif problem == "changed body":
        body = BODY.replace('"n": 1', '"n": 2')
    elif problem == "stale":  # Standard Webhooks: five minutes' tolerance
        headers = _headers(secret, "msg_2", now - timedelta(minutes=10))
    else:
        del headers["webhook-signature"]
    done = httpx.post(receiver.url, content=body, headers=headers)
    assert done.status_code in (400, 401)
    receiver.stop()
    assert _lines(receiver) == []
    assert (receiver.received, receiver.verified, receiver.rejected) == (1, 0, 1)


def test_nothing_is_accepted_before_a_secret_is_trusted(receiver: WebhookReceiver) -> None:
    done = httpx.post(
        receiver.url, content=BODY, headers=_headers(new_secret(), "msg_3", datetime.now(UTC))
    )
    assert done.status_code == 401
    receiver.stop()
    assert _lines(receiver) == []
