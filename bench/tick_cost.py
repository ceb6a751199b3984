"""CPU per scheduler round and per admitted call, against the bare admission INSERT … SELECT.

    .venv/bin/python -m bench.tick_cost [--url postgresql://…] [--rounds 30] [--campaigns 1 5]
        [--admit 0 20 60 200] [--leases memory|redis] [--redis-url redis://…] [--pending 50000]
        [--profile FILE]

Creates a database of its own on the server (dropped afterwards) with ``--pending`` pending
recipients in each running campaign, then times :func:`dialer.scheduler.tick` rounds as the
scheduler worker runs them (``tick_seconds=0.2``, the pending gauge on), the clock moving 0.2 s
a round. Each campaign's cps is set so that a round admits exactly k calls in all (lookahead
0, no channel limit binds); between rounds the admitted calls end (untimed), so every round
sees the same state. k = 0 is an idle round: the calls of the previous round are still queued
and use the whole budget.

Per k it prints the median CPU ms per round (``time.process_time``, this process only: the
server's work is not counted), SQL statements per round (``before_cursor_execute``), Redis
round trips per round (``--leases redis``), and CPU µs per admitted call. The baseline, in the
same run: the same k rows admitted by one raw psycopg ``INSERT … SELECT`` (the least a client
can spend on admission), and the ratio tick / baseline.

``--profile FILE`` also writes a cProfile of the k = 200 rounds (``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import redis
import sqlalchemy as sa
from sqlalchemy import Engine, event

from dialer.clock import FrozenClock
from dialer.config import Settings
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from dialer.db.models import Campaign
from dialer.leases import MemoryLeases, RedisLeases
from dialer.leases.backend import LeaseBackend
from dialer.scheduler import tick

DEFAULT_URL = os.environ.get(
    "DIALER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test"
)
DEFAULT_REDIS = os.environ.get("DIALER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)  # 10:00 in New York
ROUND = 0.2  # the scheduler worker's admission round (workers/tasks.py ADMISSION_SECONDS)
CONFIG: dict[str, Any] = {
    "name": "bench",
    "type": "broadcast",
    "lists": [1],
    "caller_id": {"number": "+12125550100"},
    "pacing": {"max_channels": 100_000, "cps": 1},
    "metadata": {"companyId": "bench"},
}


def fill(engine: Engine, campaigns: int, pending: int) -> list[int]:
    """``campaigns`` paused campaigns with ``pending`` recipients each (one list per campaign)."""
    table = cast(sa.Table, Campaign.__table__)
    ids: list[int] = []
    with engine.begin() as conn:
        for index in range(campaigns):
            list_id = conn.execute(
                sa.text(
                    "INSERT INTO contact_lists (name, recipient_count, rejected_count) "
                    "VALUES (:name, 0, 0) RETURNING id"
                ),
                {"name": f"bench-{index}"},
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO recipients (list_id, phone_e164, timezones, fields, row_no) "
                    "SELECT :list, '+1212' || lpad((:base + n)::text, 7, '0'), "
                    "'{America/New_York}', '{}', n + 1 FROM generate_series(1, :n) AS n"
                ),
                {"list": list_id, "n": pending, "base": index * pending},
            )
            campaign_id = conn.execute(
                sa.insert(table)
                .values(name=f"bench-{index}", type="broadcast", status="paused", config=CONFIG)
                .returning(table.c.id)
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO campaign_recipients "
                    "(campaign_id, recipient_id, status, attempts, next_attempt_at) "
                    "SELECT :c, id, 'pending', 0, :due FROM recipients WHERE list_id = :list"
                ),
                {"c": campaign_id, "list": list_id, "due": T0},
            )
            ids.append(campaign_id)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return ids


def configure(engine: Engine, running: Sequence[int], others: Sequence[int], cps: float) -> None:
    """Only ``running`` run, each at ``cps``; nothing queued or live is left."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE campaigns SET status = 'paused' WHERE id = ANY(:ids)"),
            {"ids": list(others)},
        )
        conn.execute(
            sa.text(
                "UPDATE campaigns SET status = 'running', "
                "config = jsonb_set(config, '{pacing,cps}', to_jsonb(CAST(:cps AS float8))) "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": list(running), "cps": cps},
        )
    end_calls(engine)


def end_calls(engine: Engine) -> None:
    """Every queued attempt ends and its recipient is done: the next round has room again."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE campaign_recipients SET status = 'done', final_outcome = 'completed' "
                "WHERE id IN (SELECT campaign_recipient_id FROM call_attempts "
                "WHERE state = 'queued')"
            )
        )
        conn.execute(
            sa.text(
                "UPDATE call_attempts SET state = 'ended', outcome = 'completed' "
                "WHERE state = 'queued'"
            )
        )


class Counters:
    """SQL statements (SQLAlchemy events) and Redis round trips (redis-py calls) seen."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.redis = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        command: Any = redis.Redis.execute_command
        execute: Any = redis.client.Pipeline.execute

        def counted_command(client: Any, *args: Any, **kwargs: Any) -> Any:
            self.redis += 1
            return command(client, *args, **kwargs)

        def counted_execute(pipe: Any, *args: Any, **kwargs: Any) -> Any:
            self.redis += 1
            return execute(pipe, *args, **kwargs)

        setattr(redis.Redis, "execute_command", counted_command)  # noqa: B010
        setattr(redis.client.Pipeline, "execute", counted_execute)  # noqa: B010

    def _statement(self, *_args: Any) -> None:
        self.statements += 1


@dataclass
class Figures:
    cpu_ms: float  # median CPU ms per round
    statements: float  # mean per round
    redis: float  # mean per round
    admitted: int  # per round


def time_rounds(
    engine: Engine,
    leases: LeaseBackend,
    counters: Counters,
    clock: FrozenClock,
    *,
    admit: int,
    rounds: int,
    profiler: cProfile.Profile | None = None,
) -> Figures:
    settings = Settings()
    sent: list[str] = []
    cpu: list[float] = []
    statements = redis_calls = 0
    admitted: set[int] = set()
    for index in range(rounds + 2):
        clock.advance(ROUND)
        before = (counters.statements, counters.redis)
        if profiler is not None and index >= 2:
            profiler.enable()
        started = time.process_time()
        report = tick(
            engine,
            leases=leases,
            dispatch=sent.extend,
            settings=settings,
            clock=clock,
            tick_seconds=ROUND,
            lookahead=0,
        )
        elapsed = time.process_time() - started
        if profiler is not None:
            profiler.disable()
        if index >= 2:  # the first rounds warm caches and the connection pool
            cpu.append(elapsed)
            statements += counters.statements - before[0]
            redis_calls += counters.redis - before[1]
            admitted.add(report.admitted)
        if admit:
            end_calls(engine)
    if admitted != {admit}:
        raise SystemExit(f"rounds admitted {sorted(admitted)}, not {admit}")
    return Figures(statistics.median(cpu) * 1000, statements / rounds, redis_calls / rounds, admit)


BASELINE = """
WITH due AS (
    SELECT cr.id, cr.recipient_id, cr.attempts, r.phone_e164
    FROM campaign_recipients cr JOIN recipients r ON r.id = cr.recipient_id
    WHERE cr.campaign_id = %(c)s AND cr.status = 'pending' AND cr.next_attempt_at <= %(now)s
    ORDER BY cr.next_attempt_at LIMIT %(k)s FOR UPDATE OF cr SKIP LOCKED
), won AS (
    UPDATE campaign_recipients cr SET status = 'active', attempts = cr.attempts + 1
    FROM due WHERE cr.id = due.id RETURNING cr.id, cr.attempts, due.recipient_id, due.phone_e164
)
INSERT INTO call_attempts (id, campaign_id, campaign_recipient_id, attempt_no, state,
    state_changed_at, claimed_by, dispatched_at, options, metadata, trunk, to_number,
    caller_id_number, created_at, amd_enabled, recording_enabled)
SELECT gen_random_uuid(), %(c)s, won.id, won.attempts, 'queued', %(now)s, 'scheduler',
    %(now)s, '{}', jsonb_build_object('recipientId', won.recipient_id::text), 'default',
    won.phone_e164, '+12125550100', %(now)s, false, false
FROM won RETURNING id
"""


def baseline(engine: Engine, campaigns: Sequence[int], *, admit: int, rounds: int) -> float:
    """Median CPU ms of admitting ``admit`` rows across ``campaigns`` in one raw statement each."""
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    cpu: list[float] = []
    share = admit // len(campaigns)
    with psycopg.connect(dsn) as conn:
        for index in range(rounds + 2):
            started = time.process_time()
            ids: list[Any] = []
            with conn.transaction():
                for campaign_id in campaigns:
                    rows = conn.execute(BASELINE, {"c": campaign_id, "now": T0, "k": share})
                    ids.extend(str(row[0]) for row in rows)
            elapsed = time.process_time() - started
            if index >= 2:
                cpu.append(elapsed)
            end_calls(engine)
    return statistics.median(cpu) * 1000


@contextmanager
def database(url: str) -> Iterator[Engine]:
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"dialer_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(
        sa.engine.make_url(make_engine(url).url).set(database=name).render_as_string(False)
    )
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_leases(kind: str, redis_url: str, now: float) -> LeaseBackend:
    backend: LeaseBackend
    if kind == "redis":
        backend = RedisLeases.from_url(redis_url, prefix=f"bench:{uuid.uuid4().hex[:8]}")
    else:
        backend = MemoryLeases()
    backend.restore([], now)
    return backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--campaigns", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--admit", type=int, nargs="+", default=[0, 20, 60, 200])
    parser.add_argument("--leases", choices=("memory", "redis"), default="redis")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--pending", type=int, default=50_000)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()

    with database(args.url) as engine:
        started = time.perf_counter()
        all_ids = fill(engine, max(args.campaigns), args.pending)
        print(
            f"filled {max(args.campaigns)} campaigns of {args.pending:,} pending in "
            f"{time.perf_counter() - started:.1f} s; leases: {args.leases}; "
            f"rounds of {ROUND} s, median of {args.rounds}"
        )
        counters = Counters(engine)
        clock = FrozenClock(T0)
        leases = make_leases(args.leases, args.redis_url, clock.time())
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        for count in args.campaigns:
            running, others = all_ids[:count], all_ids[count:]
            print(f"\n{count} running campaign(s)")
            print(
                f"{'k':>5} {'CPU ms/round':>13} {'stmts/round':>12} {'redis/round':>12} "
                f"{'µs/call':>8} {'baseline ms':>12} {'ratio':>6}"
            )
            idle: float | None = None
            for k in args.admit:
                # the idle round: the previous round's k calls still queued fill the budget
                per_round = k if k else min(x for x in args.admit if x) or 20
                configure(engine, running, others, per_round / count / ROUND)
                if not k:
                    clock.advance(ROUND)
                    tick(
                        engine,
                        leases=leases,
                        dispatch=lambda ids: None,
                        settings=Settings(),
                        clock=clock,
                        tick_seconds=ROUND,
                        lookahead=0,
                    )
                figures = time_rounds(
                    engine,
                    leases,
                    counters,
                    clock,
                    admit=k,
                    rounds=args.rounds,
                    profiler=profiler if k == max(args.admit) else None,
                )
                end_calls(engine)
                if not k:
                    idle = figures.cpu_ms
                    print(
                        f"{k:>5} {figures.cpu_ms:>13.2f} {figures.statements:>12.1f} "
                        f"{figures.redis:>12.1f} {'-':>8} {'-':>12} {'-':>6}"
                    )
                    continue
                base = baseline(engine, running, admit=k, rounds=args.rounds)
                print(
                    f"{k:>5} {figures.cpu_ms:>13.2f} {figures.statements:>12.1f} "
                    f"{figures.redis:>12.1f} {figures.cpu_ms * 1000 / k:>8.0f} "
                    f"{base:>12.2f} {figures.cpu_ms / base:>5.1f}x"
                )
            if idle is not None:
                print(f"idle round: {idle:.2f} ms CPU (goal: cheap)")
        if profiler is not None:
            profiler.dump_stats(args.profile)
            print(f"\nprofile of the k = {max(args.admit)} rounds: {args.profile}")


if __name__ == "__main__":
    main()
