"""Delivering the outbox to a real HTTP receiver: signed (Standard Webhooks), in order per call
and endpoint, retried with backoff, dead-lettered after the retry window, 410 disabling the
endpoint, replays keeping the webhook-id, a receiver that comes back getting everything."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.attempts import AttemptEnd, finalise_attempts
from dialer.clock import FrozenClock
from dialer.config import Settings, get_settings
from dialer.db.models import WebhookDelivery, WebhookDeliveryTry
from dialer.webhooks import EVENT_NAMES, WebhookError, add_endpoint, list_endpoints
from dialer.webhooks.delivery import Deliverer, backoff
from dialer.webhooks.events import event_id
from dialer.webhooks.log import enable_endpoint, list_deliveries, replay
from dialer.webhooks.outbox import enqueue
from dialer.webhooks.schemas import shipped_schema
from tests.engine.factories import make_attempt, make_campaign, make_recipient
from tests.webhooks.receiver import Receiver

T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
INITIATED, ANSWERED, COMPLETED = EVENT_NAMES[0], EVENT_NAMES[1], EVENT_NAMES[-1]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def _settings(**changes: object) -> Settings:
    return get_settings().model_copy(update={"webhook_timeout": 2.0, **changes})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


def _calls(engine: Engine, n: int) -> list[uuid.UUID]:
    with Session(engine) as s:
        campaign = make_campaign(s)
        ids = []
        for i in range(n):
            progress = make_recipient(s, campaign, phone=f"+1212555{i:04d}")
            ids.append(make_attempt(s, campaign=campaign, progress=progress, sent_at=T0).id)
        s.commit()
    return ids


def _end(engine: Engine, clock: FrozenClock, ids: list[uuid.UUID]) -> None:
    with Session(engine) as s, s.begin():
        at = T0 + timedelta(seconds=30)
        ends = [AttemptEnd(aid, "no_answer", "NO_ANSWER", at) for aid in ids]
        assert len(finalise_attempts(s, ends, by="test", leases=None, clock=clock)) == len(ids)


def _emit(engine: Engine, clock: FrozenClock, emitted: list[tuple[uuid.UUID, list[str]]]) -> int:
    with Session(engine) as s, s.begin():
        return enqueue(s, emitted, now=clock.now())


def _rows(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    d = WebhookDelivery
    with engine.connect() as conn:
        return list(conn.execute(sa.select(d).order_by(d.id)).all())


def _by_call(received: list[object]) -> dict[str, list[tuple[str, int]]]:
    seen: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in received:
        payload = r.payload  # type: ignore[attr-defined]
        seen[payload["data"]["callUuid"]].append((payload["event"], r.status))  # type: ignore[attr-defined]
    return seen


def test_an_ended_call_is_delivered_signed_and_as_the_schema_says(
    engine: Engine, clock: FrozenClock, receiver: Receiver
) -> None:
    created = add_endpoint(engine, receiver.url)
    (aid,) = _calls(engine, 1)
    _end(engine, clock, [aid])  # finalise writes campaign.completed to the outbox
    deliverer = Deliverer(engine, settings=_settings(), clock=clock)
    report = deliverer.run_round()
    assert (report.claimed, report.delivered, report.failed) == (1, 1, 0)
    (got,) = receiver.received
    payload = got.verified(created.secret)  # raises unless the signature is the secret's
    assert got.webhook_id == event_id(aid, COMPLETED)
    assert got.headers["webhook-signature"].startswith("v1,")
    jsonschema.validate(payload, shipped_schema(COMPLETED))
    assert payload["data"]["callUuid"] == str(aid)
    assert payload["data"]["outcome"] == "no_answer"
    assert payload["timestamp"] == payload["data"]["timing"]["endedAt"]
    (row,) = _rows(engine)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    with engine.connect() as conn:
        tries = conn.execute(sa.select(WebhookDeliveryTry.status_code)).scalars().all()
    assert tries == [200]
    assert deliverer.run_round().claimed == 0  # nothing is sent twice


def test_a_calls_later_event_waits_for_the_earlier_one_to_be_delivered(
    engine: Engine, clock: FrozenClock
) -> None:
    a, b = _calls(engine, 2)
    failed_once: set[str] = set()

    def plan(_n: int, body: bytes) -> tuple[int, float]:
        payload = json.loads(body)
        key = payload["data"]["callUuid"] + payload["event"]
        mine = payload["data"]["callUuid"] == str(a) and payload["event"] == ANSWERED
        if mine and key not in failed_once:
            failed_once.add(key)
            return 500, 0.0
        return 200, 0.0

    with Receiver(plan).running() as receiver:
        add_endpoint(engine, receiver.url)
        assert _emit(engine, clock, [(a, [INITIATED, ANSWERED, COMPLETED]),
                                     (b, [COMPLETED, INITIATED, ANSWERED])]) == 6  # fmt: skip
        deliverer = Deliverer(engine, settings=_settings(), clock=clock)
        first = deliverer.run_round()
        assert (first.delivered, first.failed) == (4, 1)  # a's completed was not tried
        assert deliverer.run_round().claimed == 0  # a's answered is not due: it blocks
        clock.advance(seconds=7)  # past the first backoff (5 s ± 25 %)
        second = deliverer.run_round()
        assert (second.claimed, second.delivered) == (2, 2)
        calls = _by_call(receiver.received)
    assert calls[str(a)] == [(INITIATED, 200), (ANSWERED, 500), (ANSWERED, 200), (COMPLETED, 200)]
    assert calls[str(b)] == [(INITIATED, 200), (ANSWERED, 200), (COMPLETED, 200)]
    assert {r.status for r in _rows(engine)} == {"delivered"}


def test_410_disables_the_endpoint_and_a_replay_keeps_the_webhook_id(
    engine: Engine, clock: FrozenClock
) -> None:
    status = {"now": 410}
    with Receiver(lambda _n, _b: (status["now"], 0.0)).running() as receiver:
        created = add_endpoint(engine, receiver.url)
        a, b = _calls(engine, 2)
        _emit(engine, clock, [(a, [INITIATED, COMPLETED]), (b, [COMPLETED])])
        deliverer = Deliverer(engine, settings=_settings(), clock=clock)
        report = deliverer.run_round()
        assert report.disabled == [created.endpoint.id]
        rows = _rows(engine)
        assert {r.status for r in rows} == {"dead"}  # what waited for it is visible, not lost
        assert any("endpoint disabled" in (r.last_error or "") for r in rows)
        (endpoint,) = list_endpoints(engine)
        assert not endpoint.active
        assert "410" in (endpoint.disabled_reason or "")
        _emit(engine, clock, [(a, [ANSWERED])])
        assert len(_rows(engine)) == 3  # a disabled endpoint gets no new rows
        with pytest.raises(WebhookError, match="disabled"):
            replay(engine, delivery_id=rows[0].id, clock=clock)
        enable_endpoint(engine, created.endpoint.id)
        assert replay(engine, since=T0 - timedelta(hours=1), clock=clock) == 3
        status["now"] = 204
        sent_before = [r.webhook_id for r in receiver.received]
        again = deliverer.run_round()
        assert again.delivered == 3
        resent = [r.webhook_id for r in receiver.received[len(sent_before) :]]
    assert set(resent) == {event_id(a, INITIATED), event_id(a, COMPLETED), event_id(b, COMPLETED)}
    assert set(sent_before) <= set(resent)


def test_timeouts_and_refused_connections_are_retried_then_dead_lettered(
    engine: Engine, clock: FrozenClock
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hooks"
    with Receiver(lambda _n, _b: (200, 1.5)).running() as slow:
        add_endpoint(engine, slow.url)
        add_endpoint(engine, closed)
        (aid,) = _calls(engine, 1)
        _emit(engine, clock, [(aid, [COMPLETED])])
        deliverer = Deliverer(engine, settings=_settings(webhook_timeout=0.3), clock=clock)
        report = deliverer.run_round()
    assert (report.claimed, report.failed) == (2, 2)
    errors = sorted(r.last_error or "" for r in _rows(engine))
    assert errors[0].startswith("ConnectError")
    assert errors[1] == "timed out after 0.3 s"
    for row in _rows(engine):
        assert row.status == "pending"
        assert row.attempts == 1
        wait = (row.next_try_at - T0).total_seconds()
        assert 3.75 <= wait <= 6.25
    clock.advance(hours=25)  # past the 24 h window: the next failure is the last
    final = deliverer.run_round()
    assert final.dead == 2
    rows = _rows(engine)
    assert {r.status for r in rows} == {"dead"}
    assert all("(retried for 24 h)" in (r.last_error or "") for r in rows)
    failed = list_deliveries(engine, failed=True)
    assert {f.id for f in failed} == {r.id for r in rows}


def test_a_receiver_that_comes_back_gets_what_waited_at_once(
    engine: Engine, clock: FrozenClock
) -> None:
    up = {"now": False}
    with Receiver(lambda _n, _b: ((200 if up["now"] else 503), 0.0)).running() as receiver:
        add_endpoint(engine, receiver.url)
        ids = _calls(engine, 4)
        _emit(engine, clock, [(aid, [COMPLETED]) for aid in ids[:3]])
        deliverer = Deliverer(engine, settings=_settings(), clock=clock)
        for _ in range(6):  # six failures each: the next try is minutes away
            clock.advance(seconds=700)
            assert deliverer.run_round().failed == 3
        waiting = _rows(engine)
        assert all(r.next_try_at > clock.now() + timedelta(seconds=60) for r in waiting)
        up["now"] = True
        _emit(engine, clock, [(ids[3], [COMPLETED])])  # a new call's event goes through
        assert deliverer.run_round().delivered == 1
        assert deliverer.run_round().delivered == 3  # and the waiting ones are due at once
        assert len(receiver.accepted()) == 4


def test_two_deliverers_never_send_an_event_twice_or_out_of_order(
    pg_engine: Engine, clock: FrozenClock
) -> None:
    engine = pg_engine
    with Receiver().running() as receiver:
        add_endpoint(engine, receiver.url)
        ids = _calls(engine, 60)
        _emit(engine, clock, [(aid, [INITIATED, ANSWERED, COMPLETED]) for aid in ids])
        deliverers = [
            Deliverer(engine, settings=_settings(), clock=clock, limit=25) for _ in range(2)
        ]

        def drain(deliverer: Deliverer) -> None:
            for _ in range(200):
                if not deliverer.run_round().claimed and all(
                    r.status == "delivered" for r in _rows(engine)
                ):
                    return

        threads = [threading.Thread(target=drain, args=(d,)) for d in deliverers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        ids_seen = [r.webhook_id for r in receiver.received]
        calls = _by_call(receiver.received)
    assert len(ids_seen) == len(set(ids_seen)) == 180
    for aid in ids:
        assert calls[str(aid)] == [(INITIATED, 200), (ANSWERED, 200), (COMPLETED, 200)]


@pytest.mark.parametrize("tries", [1, 2, 5, 10, 30])
def test_backoff_doubles_with_jitter_up_to_the_cap(tries: int) -> None:
    low = backoff(tries, 600.0, rand=lambda: 0.0)
    high = backoff(tries, 600.0, rand=lambda: 1.0)
    base = min(600.0, 5.0 * 2 ** (tries - 1))
    assert low == pytest.approx(base * 0.75)
    assert high == pytest.approx(base * 1.25)


def _readme_receiver() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Webhooks: campaign.* events for the CRM") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```\n", start)]


def test_the_readme_receiver_verifies_what_the_dialer_sends(
    engine: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's receiver, as printed, behind FastAPI's test client (an httpx client: the
    deliverer sends through it as it does over the network)."""
    from fastapi.testclient import TestClient

    created = add_endpoint(engine, "http://crm.test/hooks")
    monkeypatch.setenv("DIALER_WEBHOOK_SECRET", created.secret)
    namespace: dict[str, object] = {}
    exec(compile(_readme_receiver(), "README.md", "exec"), namespace)
    client = TestClient(namespace["app"], base_url="http://crm.test")  # type: ignore[arg-type]
    (aid,) = _calls(engine, 1)
    _end(engine, clock, [aid])
    deliverer = Deliverer(engine, settings=_settings(), clock=clock, client=client)
    assert deliverer.run_round().delivered == 1
    forged = Deliverer(
        engine, settings=_settings(), clock=clock, client=client,
        wall=lambda: time.time() - 3600,  # an hour-old signature: a replayed capture
    )  # fmt: skip
    _emit(engine, clock, [(aid, [INITIATED])])
    report = forged.run_round()
    assert report.failed == 1
    assert report.tries[0].status_code == 400
