"""CPU per call of the consumer's database writes: ``persist_batch`` fed the events of N calls
in batches, against a raw psycopg ``executemany`` UPDATE of as many attempts in the same run.

    .venv/bin/python -m bench.consumer_batch [--calls 2000] [--batch 200] [--campaigns 4]
        [--repeat 3]

A fresh PostgreSQL database of its own is made (and dropped): ``--campaigns`` running
campaigns whose attempts are ``originating`` with a lease held, as the worker leaves them.
Every call sends what a real one does: BACKGROUND_JOB ``+OK``, then CHANNEL_ANSWER (two in
three calls) or CHANNEL_PROGRESS, then CHANNEL_HANGUP_COMPLETE (completed, no_answer or busy).
The calls are staggered, so one batch holds calls at every stage: forward moves and ends.

Printed per path, each on attempts of its own:

- ``persist_batch``: the consumer's batch, committed per batch (the consumer's transaction);
- ``finalise_attempt`` loop: the same ends, one call of the single-attempt function each;
- raw ``executemany``: one psycopg executemany UPDATE per batch ending as many attempts (no
  SQLAlchemy, no recipients, no leases): the floor any ORM-free writer could reach.

CPU is this process's (``time.process_time``): the database server's work is not in it.
Statements are ``before_cursor_execute`` events (an executemany counts once).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bench.scratch_db import scratch_database
from dialer.attempts import finalise_attempt
from dialer.clock import RealClock
from dialer.consumer.store import Incoming, persist_batch
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, ContactList, Recipient
from dialer.esl.events import Event, event_from_mapping
from dialer.leases import Granted, MemoryLeases, Scope

SCOPE = Scope("node", "fs1", None)
RETRIES = {
    "no_answer": {"delay": 600, "max_attempts": 3, "backoff": 2.0},
    "busy": {"delay": 300, "max_attempts": 2},
}


def make_attempts(engine: Engine, calls: int, campaigns: int, tag: str) -> list[uuid.UUID]:
    """``calls`` originating attempts spread over ``campaigns`` running campaigns."""
    now = datetime.now(UTC)
    ids: list[uuid.UUID] = []
    with Session(engine) as s:
        camps = [
            Campaign(
                name=f"{tag}-{n}",
                type="broadcast",
                status="running",
                config={
                    "name": f"{tag}-{n}",
                    "type": "broadcast",
                    "lists": [1],
                    "caller_id": {"number": "+12125550100"},
                    "pacing": {"max_channels": 1000, "cps": 100},
                    "retries": RETRIES,
                    "ring_timeout": 30,
                    "max_duration": 300,
                },
            )
            for n in range(campaigns)
        ]
        contacts = ContactList(name=f"{tag}-list")
        s.add_all([*camps, contacts])
        s.flush()
        people = (
            s.execute(
                sa.insert(Recipient).returning(Recipient.id),
                [
                    {
                        "list_id": contacts.id,
                        "phone_e164": f"+1212{n:07d}",
                        "timezones": ["America/New_York"],
                        "fields": {},
                        "row_no": n + 2,
                    }
                    for n in range(calls)
                ],
            )
            .scalars()
            .all()
        )
        progress = (
            s.execute(
                sa.insert(CampaignRecipient).returning(CampaignRecipient.id),
                [
                    {
                        "campaign_id": camps[n % campaigns].id,
                        "recipient_id": person,
                        "status": "active",
                        "attempts": 1,
                    }
                    for n, person in enumerate(people)
                ],
            )
            .scalars()
            .all()
        )
        rows = []
        for n, pid in enumerate(progress):
            aid = uuid.uuid4()
            ids.append(aid)
            rows.append(
                {
                    "id": aid,
                    "campaign_id": camps[n % campaigns].id,
                    "campaign_recipient_id": pid,
                    "attempt_no": 1,
                    "state": "originating",
                    "state_changed_at": now,
                    "fs_node": "fs1",
                    "trunk": "default",
                    "to_number": f"+1212{n:07d}",
                    "caller_id_number": "+12125550100",
                    "options": {"ring_timeout": 30, "max_duration": 300, "variables": {}},
                    "metadata": {},
                    "originate_sent_at": now,
                    "claimed_at": now,
                    "claimed_by": "worker@bench:1",
                }
            )
        s.execute(sa.insert(cast(sa.Table, CallAttempt.__table__)), rows)
        s.commit()
    return ids


def call_events(aid: uuid.UUID, n: int, start_us: int, core: str) -> list[tuple[int, Event]]:
    """(instant µs, event) of one call: +OK, answer or progress, hangup."""
    a = str(aid)
    kind = n % 3  # 0, 1: answered and completed; 2: no answer (every 4th of those busy)
    seq = 10 * n

    def channel(name: str, at: int, sequence: int, **extra: str) -> Event:
        headers = {
            "Event-Name": name,
            "Core-UUID": core,
            "Event-Sequence": str(sequence),
            "Event-Date-Timestamp": str(at),
            "Unique-ID": a,
            "variable_dialer_attempt_id": a,
            "Caller-Channel-Created-Time": str(start_us + 20_000),
        }
        headers.update(extra)
        return event_from_mapping(headers)

    job = event_from_mapping(
        {
            "Event-Name": "BACKGROUND_JOB",
            "Core-UUID": core,
            "Event-Sequence": str(seq + 1),
            "Event-Date-Timestamp": str(start_us + 30_000),
            "Job-UUID": a,
            "Job-Command": "originate",
        },
        f"+OK {a}\n",
    )
    ring = 4_000_000
    if kind < 2:
        answered = start_us + ring
        ended = answered + 20_000_000
        middle = channel(
            "CHANNEL_ANSWER", answered, seq + 2, **{"Caller-Channel-Answered-Time": str(answered)}
        )
        hangup = channel(
            "CHANNEL_HANGUP_COMPLETE",
            ended,
            seq + 3,
            **{
                "Caller-Channel-Answered-Time": str(answered),
                "Caller-Channel-Hangup-Time": str(ended),
                "Hangup-Cause": "NORMAL_CLEARING",
                "variable_billsec": "20",
            },
        )
        return [(start_us + 30_000, job), (answered, middle), (ended, hangup)]
    ended = start_us + ring + 25_000_000
    cause = "USER_BUSY" if n % 4 == 0 else "NO_ANSWER"
    middle = channel("CHANNEL_PROGRESS", start_us + ring, seq + 2)
    hangup = channel(
        "CHANNEL_HANGUP_COMPLETE",
        ended,
        seq + 3,
        **{
            "Caller-Channel-Answered-Time": "0",
            "Caller-Channel-Hangup-Time": str(ended),
            "Hangup-Cause": cause,
            "variable_billsec": "0",
        },
    )
    return [(start_us + 30_000, job), (start_us + ring, middle), (ended, hangup)]


def event_stream(ids: Sequence[uuid.UUID]) -> list[Incoming]:
    """Every call's events, calls started 0.1 s apart, in the order the switch sends them."""
    t0 = int(time.time() * 1_000_000)
    core = str(uuid.uuid4())  # a switch of its own: no event is a duplicate of another run's
    timed: list[tuple[int, int, uuid.UUID, Event]] = []
    for n, aid in enumerate(ids):
        for at, ev in call_events(aid, n, t0 + n * 100_000, core):
            timed.append((at, ev.sequence or 0, aid, ev))
    timed.sort(key=lambda row: (row[0], row[1]))
    return [Incoming(aid, ev, 0.0) for _, _, aid, ev in timed]


class Statements:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


def leased(ids: Sequence[uuid.UUID], clock: RealClock) -> MemoryLeases:
    leases = MemoryLeases()
    leases.restore([], clock.time())
    for aid in ids:
        assert isinstance(leases.acquire(str(aid), [SCOPE], 600, clock.time()), Granted)
    return leases


def run_persist(engine: Engine, ids: Sequence[uuid.UUID], batch: int) -> tuple[float, float]:
    """(CPU µs per call, statements per batch) of persist_batch over the calls' events."""
    clock = RealClock()
    leases = leased(ids, clock)
    stream = event_stream(ids)
    statements = Statements(engine)
    batches = finalised = 0
    started = time.process_time()
    for start in range(0, len(stream), batch):
        with Session(engine) as s, s.begin():
            result = persist_batch(
                s, "fs1", stream[start : start + batch], leases=leases, clock=clock
            )
        batches += 1
        finalised += result.finalised
    cpu = time.process_time() - started
    assert finalised == len(ids), (finalised, len(ids))
    assert leases.count(SCOPE, clock.time()) == 0
    return cpu / len(ids) * 1e6, statements.count / batches


def ends(ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = []
    for n, aid in enumerate(ids):
        answered = n % 3 < 2
        out.append(
            {
                "id": aid,
                "outcome": "completed" if answered else "no_answer",
                "cause": "NORMAL_CLEARING" if answered else "NO_ANSWER",
                "ended_at": now,
                "answered_at": now - timedelta(seconds=20) if answered else None,
                "billsec": 20 if answered else 0,
            }
        )
    return out


def run_finalise_loop(engine: Engine, ids: Sequence[uuid.UUID], per_tx: int) -> tuple[float, float]:
    clock = RealClock()
    leases = leased(ids, clock)
    todo = ends(ids)
    statements = Statements(engine)
    batches = 0
    started = time.process_time()
    for start in range(0, len(todo), per_tx):
        with Session(engine) as s, s.begin():
            for end in todo[start : start + per_tx]:
                assert finalise_attempt(
                    s,
                    end["id"],
                    outcome=end["outcome"],
                    hangup_cause=end["cause"],
                    ended_at=end["ended_at"],
                    by="consumer:fs1",
                    answered_at=end["answered_at"],
                    billsec=end["billsec"],
                    leases=leases,
                    clock=clock,
                )
        batches += 1
    cpu = time.process_time() - started
    return cpu / len(ids) * 1e6, statements.count / batches


def run_raw(url: str, ids: Sequence[uuid.UUID], per_tx: int) -> float:
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    todo = ends(ids)
    sql = (
        "UPDATE call_attempts SET state = 'ended', outcome = %s, hangup_cause = %s,"
        " ended_at = %s, answered_at = COALESCE(%s, answered_at), billsec = %s,"
        " state_changed_at = %s, claimed_by = 'consumer:fs1'"
        " WHERE id = %s AND state IN ('queued', 'originating', 'ringing', 'answered')"
    )
    with psycopg.connect(dsn) as conn:
        started = time.process_time()
        for start in range(0, len(todo), per_tx):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    sql,
                    [
                        (
                            e["outcome"],
                            e["cause"],
                            e["ended_at"],
                            e["answered_at"],
                            e["billsec"],
                            e["ended_at"],
                            e["id"],
                        )
                        for e in todo[start : start + per_tx]
                    ],
                )
        cpu = time.process_time() - started
    return cpu / len(ids) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200, help="events per persist_batch")
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each path; the least CPU is printed"
    )
    args = parser.parse_args()
    per_tx = max(1, args.batch // 3)  # as many attempts as a batch of events ends
    with scratch_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        warm = make_attempts(engine, 300, args.campaigns, "warm")
        run_persist(engine, warm, args.batch)  # compiled statement caches, imports
        persist: list[float] = []
        loop: list[float] = []
        raw: list[float] = []
        for n in range(args.repeat):  # interleaved, so that a busy moment hits every path
            sets = {
                name: make_attempts(engine, args.calls, args.campaigns, f"{name}-{n}")
                for name in ("persist", "loop", "raw")
            }
            us, persist_stmts = run_persist(engine, sets["persist"], args.batch)
            persist.append(us)
            us, loop_stmts = run_finalise_loop(engine, sets["loop"], per_tx)
            loop.append(us)
            raw.append(run_raw(url, sets["raw"], per_tx))
        engine.dispose()
    persist_us, loop_us, raw_us = min(persist), min(loop), min(raw)
    print(
        f"calls {args.calls}, {args.batch} events per batch, {args.campaigns} campaigns,"
        f" best of {args.repeat}"
    )
    print(
        f"persist_batch          {persist_us:8.0f} µs CPU per call"
        f"  {persist_stmts:6.1f} statements per batch  {persist_us / raw_us:6.1f}x raw"
    )
    print(
        f"finalise_attempt loop  {loop_us:8.0f} µs CPU per call"
        f"  {loop_stmts:6.1f} statements per {per_tx} ends  {loop_us / raw_us:6.1f}x raw"
    )
    print(
        f"raw executemany        {raw_us:8.0f} µs CPU per call"
        f"  {1:6.1f} statements per {per_tx} ends"
    )


if __name__ == "__main__":
    main()
