"""Crashes of real processes mid-campaign: what the switch saw must still be every recipient
called, none twice, and nothing left held.

* originate workers SIGKILLed every ~2 s (and restarted), the consumer SIGKILLed once;
* the stack's Redis db flushed mid-campaign (what a Redis restart without persistence does:
  queues, unacknowledged messages, leases, locks and redbeat's schedule all gone).

Messages a killed worker held but never claimed, and messages lost with Redis, come back only
through the scheduler's re-dispatch of attempts queued longer than ``REDISPATCH_AFTER``
(120 s, not configurable from the environment); attempts claimed by a killed worker that never
reached the switch are ended by the sweeper after their ring timeout plus its 60 s grace. So
these tests wait minutes, not seconds: that is the product's recovery time, measured here.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.db.models import CallAttempt
from tests.stack.harness import (
    Stack,
    calls,
    campaign_summary,
    dump_attempts,
    duplicate_originates,
    ended_in_the_future,
    make_campaign,
    make_list,
    not_final,
    originates,
    peak,
    slowest_retries,
    wait_campaign,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

#: A realistic mix: rings of 0.05-0.4 s (no answer: the campaign's 5 s ring timeout),
#: answered calls hung up by the callee after 1.2 s.
SCENARIO: dict[str, Any] = {
    "name": "stack-crashes",
    "ring": [0.05, 0.4],
    "outcomes": {"answer": 0.6, "no_answer": 0.1, "busy": 0.15, "invalid": 0.05, "rejected": 0.1},
    "numbers": {"+*": {"hangup_after": 1.2}},
}
MAX_CHANNELS = 20
RETRIES = {"busy": {"delay": 1, "max_attempts": 2}}
#: The longest the product may take to recover (see the module docstring), with margin.
RECOVERY_TIMEOUT = 240.0


def assert_no_harm(stack: Stack, engine: Engine, campaign_id: int, numbers: list[str]) -> None:
    """No attempt sent twice, no number called more often than its attempts allow or twice
    at once, every recipient final, no lease held; the ledger and our records agree."""
    facts = stack.ledger()
    sent = originates(facts, campaign_id)
    assert duplicate_originates(facts) == {}
    per_number = Counter(f["to"] for f in sent)
    assert set(per_number) <= set(numbers)
    too_often = {n: k for n, k in per_number.items() if k > RETRIES["busy"]["max_attempts"]}
    assert too_often == {}, too_often
    # one number is never on two channels at the same time
    live: dict[str, int] = defaultdict(int)
    for fact in sorted(facts, key=lambda f: float(f["t"])):
        if fact.get("campaign_id") != str(campaign_id):
            continue
        if fact["event"] == "originate" and not fact.get("refused"):
            live[fact["to"]] += 1
            assert live[fact["to"]] == 1, f"{fact['to']} called twice at once at t={fact['t']}"
        elif fact["event"] == "hangup":
            live[fact["to"]] -= 1
    assert not_final(engine, campaign_id) == {}
    assert ended_in_the_future(engine, campaign_id) == []
    assert stack.leases() == {}
    assert peak(facts, [campaign_id]) <= MAX_CHANNELS
    with engine.connect() as conn:
        ours = {
            str(row.id): row.state
            for row in conn.execute(
                sa.select(CallAttempt.id, CallAttempt.state).where(
                    CallAttempt.campaign_id == campaign_id
                )
            )
        }
    # every call the switch saw is one of our attempts, and it is over
    unknown = [f["attempt_id"] for f in sent if f["attempt_id"] not in ours]
    assert unknown == []
    assert {ours[f["attempt_id"]] for f in sent} == {"ended"}
    assert set(ours.values()) <= {"ended", "cancelled"}


def disagreements(stack: Stack, engine: Engine, campaign_id: int) -> list[dict[str, Any]]:
    """Attempts the switch answered whose record says otherwise."""
    switch = calls(stack.ledger())
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                CallAttempt.id, CallAttempt.outcome, CallAttempt.hangup_cause,
                CallAttempt.error, CallAttempt.claimed_by,
            ).where(CallAttempt.campaign_id == campaign_id)
        ).all()  # fmt: skip
    return [
        {"attempt": str(row.id), "outcome": row.outcome, "cause": row.hangup_cause,
         "error": row.error, "by": row.claimed_by, "switch": switch[str(row.id)]}
        for row in rows
        if str(row.id) in switch and switch[str(row.id)]["answered"]
        and row.outcome != "completed"
    ]  # fmt: skip


def test_killed_workers_and_consumer_neither_lose_nor_repeat_a_call(
    tmp_path: Path, postgres_url: str, pg: Engine
) -> None:
    rng = random.Random(1)
    with Stack(tmp_path, postgres_url, scenario=SCENARIO,
               originate_workers=4) as stack:  # fmt: skip
        numbers = make_list(pg, tmp_path, "crash", 200)
        campaign = make_campaign(pg, stack.settings, name="crash", lists=["crash"],
                                 max_channels=MAX_CHANNELS, cps=10, retries=RETRIES,
                                 ring_timeout=5)  # fmt: skip
        started = time.monotonic()
        # wait for the first calls, then kill while the campaign dials
        while not originates(stack.ledger(), campaign):
            assert time.monotonic() - started < 30, stack.tails()
            time.sleep(0.2)
        kills: list[str] = []
        for round_no in range(7):
            time.sleep(2.0)
            # a worker that is up and taking tasks (a restarted one needs ~4 s to be ready)
            while not (ready := [n for n in stack.worker_names() if stack.ready(n)]):
                time.sleep(0.1)
            victim = rng.choice(ready)
            stack.kill(victim)
            kills.append(victim)
            stack.restart(victim, wait_ready=False)
            if round_no == 2:
                stack.kill("consumer")
                time.sleep(1.0)  # events of this second are lost: the reconcile must see them
                stack.restart("consumer", wait_ready=False)
        kills_done = time.monotonic()
        sent_during = len(originates(stack.ledger(), campaign))
        wait_campaign(pg, campaign, timeout=RECOVERY_TIMEOUT)
        recovered = time.monotonic() - kills_done
        assert_no_harm(stack, pg, campaign, numbers)
        assert stack.dead() == []
        summary = campaign_summary(pg, campaign)
        attempts = dump_attempts(pg, campaign, tmp_path / "attempts.json")
        print("longest waits for a retry:", slowest_retries(attempts, 3))
        print("answered on the switch, not so in our records:",
              disagreements(stack, pg, campaign))  # fmt: skip
        print(f"kills {kills}; {sent_during} originates while killing; completed "
              f"{recovered:.1f} s after the last kill ({time.monotonic() - started:.1f} s in "
              f"all); {summary}")  # fmt: skip


def test_redis_flushed_mid_campaign_completes_without_a_duplicate(
    tmp_path: Path, postgres_url: str, pg: Engine
) -> None:
    with Stack(tmp_path, postgres_url, scenario=SCENARIO,
               originate_workers=2) as stack:  # fmt: skip
        numbers = make_list(pg, tmp_path, "flush", 150)
        campaign = make_campaign(pg, stack.settings, name="flush", lists=["flush"],
                                 max_channels=MAX_CHANNELS, cps=10, retries=RETRIES,
                                 ring_timeout=5)  # fmt: skip
        started = time.monotonic()
        while len(originates(stack.ledger(), campaign)) < 40:
            assert time.monotonic() - started < 40, stack.tails()
            time.sleep(0.1)
        # what the flush takes: messages waiting in the queue and the record of those the
        # workers hold unacknowledged (kombu's "unacked" hash), the leases, redbeat's keys
        broker = redis.Redis.from_url(stack.redis_url)
        lost = (broker.llen("originate"), broker.hlen("unacked"), len(stack.leases()))
        broker.close()
        stack.flush_redis()
        flushed = time.monotonic()
        sent_before = len(originates(stack.ledger(), campaign))
        # a supervisor restarts whatever exits; nothing should (see the test below)
        wait_campaign(pg, campaign, timeout=RECOVERY_TIMEOUT, on_poll=stack.revive)
        recovered = time.monotonic() - flushed
        assert_no_harm(stack, pg, campaign, numbers)
        assert stack.revived == [], f"exited after the flush: {stack.revived}"
        rebuilt = [line for name in stack.worker_names() for line in stack.grep(name, "rebuilt")]
        print(f"flushed after {sent_before} originates (queued, unacked, leases: {lost}); "
              f"completed "
              f"{recovered:.1f} s after the flush; restarted by the supervisor: "
              f"{stack.revived}; lease rebuilds: {len(rebuilt)}; "
              f"{campaign_summary(pg, campaign)}")  # fmt: skip


def test_beat_keeps_scheduling_after_a_redis_flush(
    tmp_path: Path, postgres_url: str, pg: Engine
) -> None:
    """Redis holds only what may be rebuilt (DESIGN §2): losing it must not stop the ticks.

    celery-redbeat keeps its lock and its schedule in Redis. Stock redbeat's lock extend
    raises ``LockNotOwnedError`` after a flush and beat exits (and a beat that survived
    would find no schedule entries: redbeat writes them only when it starts); ours must take
    its lock again and rewrite its schedule."""
    with Stack(tmp_path, postgres_url, originate_workers=1, consumer=False) as stack:
        scheduler = stack.procs["scheduler"].log_path
        started = time.monotonic()
        while not stack.grep("scheduler", "dialer.scheduler.tick["):
            assert time.monotonic() - started < 30, "beat never sent a tick"
            time.sleep(0.2)
        mark = scheduler.stat().st_size
        stack.flush_redis()
        time.sleep(6.0)
        with open(scheduler, "rb") as handle:
            handle.seek(mark)
            after = handle.read().decode(errors="replace").splitlines()
        ticks = sum(1 for line in after if "dialer.scheduler.tick[" in line and "received" in line)
        exited, why = stack.dead(), stack.grep("beat", "beat raised exception")
        assert "beat" not in exited, f"beat exited after the flush: {why}"
        assert ticks >= 3, f"{ticks} ticks in the 6 s after the flush (one a second is due)"


def test_a_call_answered_while_the_consumer_was_away_is_not_recorded_as_failed(
    tmp_path: Path, postgres_url: str, pg: Engine
) -> None:
    """``failed`` is a retryable outcome: an answered call recorded so may be dialled again.

    The consumer is killed while calls are up; they are answered and end before it is back.
    The worker that sent each of them saw its ``+OK`` (an originate answers +OK only once
    the callee answered), so the answer is known to the dialer, just not to the consumer."""
    scenario = {
        "name": "answered-away",
        "ring": 0.3,
        "outcomes": {"answer": 1.0},
        "numbers": {"+*": {"hangup_after": 2.0}},
    }
    with Stack(tmp_path, postgres_url, scenario=scenario,
               originate_workers=1) as stack:  # fmt: skip
        make_list(pg, tmp_path, "away", 20)
        campaign = make_campaign(pg, stack.settings, name="away", lists=["away"],
                                 max_channels=10, cps=10)  # fmt: skip
        started = time.monotonic()
        while not originates(stack.ledger(), campaign):
            assert time.monotonic() - started < 30, "no call was made"
            time.sleep(0.1)
        stack.kill("consumer")
        time.sleep(4.0)  # the calls sent meanwhile are answered and end while nobody listens
        stack.restart("consumer", wait_ready=False)
        wait_campaign(pg, campaign, timeout=90)
        facts = stack.ledger()
        answered = sum(1 for call in calls(facts).values() if call["answered"])
        assert answered == 20
        assert duplicate_originates(facts) == {}
        assert stack.leases() == {}
        wrong = disagreements(stack, pg, campaign)
        assert wrong == [], f"{len(wrong)} answered calls recorded otherwise: {wrong}"
