"""Webhooks in the distributed mode (PostgreSQL, Redis, Celery workers, beat, the consumer,
the simulator over TCP): a receiver that fails for a while (500s, then answers too slow, then
refuses connections), a consumer SIGKILLed mid-campaign and every ESL connection dropped by
the switch. Afterwards every call the switch saw has one final record and its
``campaign.completed`` delivered, every event of a call reached the receiver in the
contract's order, and every request carried a valid signature."""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.db.models import CallAttempt, WebhookDelivery
from dialer.webhooks import add_endpoint
from dialer.webhooks.events import SEQUENCE, event_id
from dialer.webhooks.schemas import shipped_schema
from tests.stack.harness import (
    Stack,
    free_port,
    make_campaign,
    make_list,
    originates,
    wait_campaign,
)
from tests.stack.test_crashes import RETRIES, SCENARIO, assert_no_harm
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

COMPLETED = "campaign.completed"


class Flaky:
    """The receiver's behaviour, switched by the test: 500, slow (past the timeout), ok."""

    def __init__(self) -> None:
        self.mode = "500"
        self.lock = threading.Lock()

    def __call__(self, _n: int, _body: bytes) -> tuple[int, float]:
        with self.lock:
            mode = self.mode
        if mode == "500":
            return 500, 0.0
        if mode == "slow":
            return 200, 1.5  # accepted, but after the dialer gave up: it sends it again
        return 200, 0.0


def _pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == "pending")
            ).scalar_one()
        )


def test_webhooks_survive_a_failing_receiver_a_killed_consumer_and_a_dropped_esl(
    tmp_path: Path, postgres_url: str, pg: Engine
) -> None:
    port = free_port()
    flaky = Flaky()
    first = Receiver(flaky, port=port)
    env = {"DIALER_WEBHOOK_TIMEOUT": "0.5", "DIALER_WEBHOOK_MAX_BACKOFF": "2"}
    received: list[Any] = []
    with Stack(tmp_path, postgres_url, scenario=SCENARIO, originate_workers=2,
               webhooks=True, extra_env=env) as stack:  # fmt: skip
        created = add_endpoint(pg, first.url)
        numbers = make_list(pg, tmp_path, "hooks", 50)
        with first.running():
            campaign = make_campaign(pg, stack.settings, name="hooks", lists=["hooks"],
                                     max_channels=20, cps=10, retries=RETRIES,
                                     ring_timeout=5)  # fmt: skip
            started = time.monotonic()
            while not originates(stack.ledger(), campaign):
                assert time.monotonic() - started < 30, stack.tails()
                time.sleep(0.2)
            time.sleep(2.0)  # 500s
            flaky.mode = "slow"
            time.sleep(2.0)
            stack.kill("consumer")
            time.sleep(1.0)  # the events of this second are lost: the reconcile finds them
            stack.restart("consumer", wait_ready=False)
        received.extend(first.received)
        # the receiver is gone: connections are refused; and the switch drops ESL
        time.sleep(1.5)
        stack.kill("simulator", signal.SIGUSR1)
        time.sleep(1.5)
        flaky.mode = "ok"
        with Receiver(flaky, port=port).running() as second:
            wait_campaign(pg, campaign, timeout=240)
            deadline = time.monotonic() + 90
            while _pending(pg) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _pending(pg) == 0, stack.tails()
            received.extend(second.received)
        assert_no_harm(stack, pg, campaign, numbers)
        assert stack.dead() == []

    with pg.connect() as conn:
        ended = {
            str(aid)
            for aid in conn.execute(
                sa.select(CallAttempt.id).where(
                    CallAttempt.campaign_id == campaign, CallAttempt.state == "ended"
                )
            ).scalars()
        }
        statuses = conn.execute(
            sa.select(WebhookDelivery.status, sa.func.count()).group_by(WebhookDelivery.status)
        ).all()
    assert dict(statuses) == {"delivered": dict(statuses)["delivered"]}  # none dead, none left
    # every request is signed with the endpoint's secret and valid against its event's schema
    accepted: dict[str, list[str]] = defaultdict(list)  # call → events, first acceptance order
    seen: set[str] = set()
    for got in received:
        payload = got.verified(created.secret)
        jsonschema.validate(payload, shipped_schema(payload["event"]))
        call = payload["data"]["callUuid"]
        assert got.webhook_id == event_id(call, payload["event"])
        if 200 <= got.status < 300 and got.webhook_id not in seen:
            seen.add(got.webhook_id)
            accepted[call].append(payload["event"])
    # one campaign.completed per call the switch saw, none for another; each call's events
    # reached the receiver in the contract's order, completed last
    assert {call for call, events in accepted.items() if COMPLETED in events} == ended
    for call, events in accepted.items():
        assert events == sorted(events, key=SEQUENCE.__getitem__), call
        assert events[-1] == COMPLETED, call
    failures = sum(1 for got in received if got.status >= 300)
    resent = sum(1 for got in received if 200 <= got.status < 300) - len(seen)
    print(
        f"{len(ended)} calls, {len(seen)} events delivered, {failures} tries refused by the "
        f"receiver, {resent} accepted twice (a timed-out try the receiver had taken)"
    )
    assert failures > 0  # the receiver did fail for a while
