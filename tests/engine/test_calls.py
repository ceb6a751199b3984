"""Single calls with an idempotency key: one call per key, even when requests race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.calls import (
    CallError,
    IdempotencyConflictError,
    get_call,
    parse_call_request,
    start_call,
)
from dialer.clock import FrozenClock
from dialer.config import Settings
from dialer.db.models import CallAttempt, DncNumber

# 10:00 in New York
T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
BODY = {
    "toNumber": "+12125550123",
    "callerIdNumber": "+12125550100",
    "callerIdName": "Campaign",
    "ringTimeoutSec": 30,
    "maxDurationSec": 300,
    "metadata": {"campaignId": "camp-abc-123", "recipientId": "rec-xyz-456",
                 "companyId": "comp-789"},
}


def _count(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(CallAttempt)) or 0)


def test_same_key_same_call(engine: Engine) -> None:
    settings, clock = Settings(), FrozenClock(T0)
    request = parse_call_request(BODY)
    sent: list[str] = []
    first = start_call(engine, request, idempotency_key="unique-key-123", settings=settings,
                       dispatch=sent.extend, clock=clock)
    again = start_call(engine, request, idempotency_key="unique-key-123", settings=settings,
                       dispatch=sent.extend, clock=clock)
    assert first.created
    assert not again.created
    assert again.call_uuid == first.call_uuid
    assert first.status == "queued"
    assert sent == [first.call_uuid]  # dispatched once
    assert _count(engine) == 1
    shown = get_call(engine, first.call_uuid)
    assert shown is not None
    assert shown.status == "queued"
    with Session(engine) as s:
        attempt = s.scalars(sa.select(CallAttempt)).one()
        assert attempt.campaign_id is None
        assert attempt.call_metadata["companyId"] == "comp-789"
        assert attempt.options["ring_timeout"] == 30


def test_same_key_other_body_is_refused(engine: Engine) -> None:
    settings, clock = Settings(), FrozenClock(T0)
    start_call(engine, parse_call_request(BODY), idempotency_key="k", settings=settings,
               clock=clock)
    other = parse_call_request({**BODY, "toNumber": "+12125550124"})
    with pytest.raises(IdempotencyConflictError, match="different request"):
        start_call(engine, other, idempotency_key="k", settings=settings, clock=clock)
    assert _count(engine) == 1


def test_racing_requests_with_one_key_make_one_call(pg_engine: Engine) -> None:
    settings, clock = Settings(), FrozenClock(T0)
    request = parse_call_request(BODY)
    barrier = threading.Barrier(8)
    results: list[str] = []
    dispatched: list[str] = []

    def post() -> None:
        barrier.wait()
        result = start_call(pg_engine, request, idempotency_key="race", settings=settings,
                            dispatch=dispatched.extend, clock=clock)
        results.append(result.call_uuid)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert dispatched == results[:1]
    assert _count(pg_engine) == 1


def test_no_key_means_a_new_call_each_time(engine: Engine) -> None:
    settings, clock = Settings(), FrozenClock(T0)
    request = parse_call_request(BODY)
    a = start_call(engine, request, idempotency_key=None, settings=settings, clock=clock)
    b = start_call(engine, request, idempotency_key=None, settings=settings, clock=clock)
    assert a.call_uuid != b.call_uuid


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**BODY, "toNumber": "12"}, "toNumber"),
        ({**BODY, "callerIdNumber": "nope"}, "callerIdNumber"),
        ({**BODY, "ringTimeoutSec": 0}, "ringTimeoutSec: must be >= 5"),
        ({**BODY, "surprise": 1}, "surprise: unknown key"),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, object], message: str) -> None:
    with pytest.raises(CallError, match=message):
        parse_call_request(body)


def test_dnc_and_calling_hours_are_enforced(engine: Engine) -> None:
    settings = Settings()
    with Session(engine) as s, s.begin():
        s.add(DncNumber(phone_e164="+12125550123", source="manual"))
    with pytest.raises(CallError, match="do-not-call"):
        start_call(engine, parse_call_request(BODY), idempotency_key=None, settings=settings,
                   clock=FrozenClock(T0))
    late = FrozenClock(datetime(2026, 6, 3, 2, 0, tzinfo=UTC))  # 22:00 in New York
    other = parse_call_request({**BODY, "toNumber": "+12125550124"})
    with pytest.raises(CallError, match=r"may not be called now.*2026-06-03T12:00:00"):
        start_call(engine, other, idempotency_key=None, settings=settings, clock=late)
    assert _count(engine) == 0


def test_an_unknown_trunk_is_an_error(engine: Engine) -> None:
    request = parse_call_request({**BODY, "trunk": "nope"})
    with pytest.raises(CallError, match="unknown trunk 'nope'"):
        start_call(engine, request, idempotency_key=None, settings=Settings(),
                   clock=FrozenClock(T0))


def test_the_operators_stricter_rules_bind_single_calls(engine: Engine) -> None:
    rules = '[{"name": "stricter", "prefixes": ["+1212"], "window": "08:00-20:00"}]'
    settings = Settings(DIALER_CALLING_RULES=rules)
    evening = FrozenClock(datetime(2026, 6, 3, 0, 30, tzinfo=UTC))  # 20:30 in New York
    request = parse_call_request(BODY)
    with pytest.raises(CallError, match="may not be called now"):
        start_call(engine, request, idempotency_key=None, settings=settings, clock=evening)
    # without the rule 20:30 is inside the legal 08:00-21:00
    placed = start_call(engine, request, idempotency_key=None, settings=Settings(),
                        clock=evening)
    assert placed.created
