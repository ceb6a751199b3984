"""One scheduler tick admitting 50 recipients: a campaign with 10k pending against one with 1M.

``python -m bench.admission [--url postgresql://…] [--ticks 20] [--small 10000]
[--large 1000000]``: creates a database of its own on the server (dropped afterwards), fills it
with ``INSERT … SELECT generate_series``, and times :func:`dialer.scheduler.tick` for each
campaign alone (the other paused; the two take turns, so both see the same machine),
resetting the admitted rows after every tick so each tick sees the same list. Prints the
median of the ticks for both sizes and their ratio (the goal: at most 2×, i.e. admission cost
does not grow with the list). Every recipient shares one ``next_attempt_at``, as a freshly
started campaign does: the worst case for due ordering.

``--explain`` also prints the plan of the due query on the large campaign.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.clock import FrozenClock
from dialer.config import Settings
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from dialer.db.models import Campaign
from dialer.leases import MemoryLeases
from dialer.scheduler import tick

DEFAULT_URL = os.environ.get(
    "DIALER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test"
)
T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)  # 10:00 in New York
CONFIG: dict[str, Any] = {
    "name": "bench",
    "type": "broadcast",
    "lists": [1],
    "caller_id": {"number": "+12125550100"},
    # ceil(48 × 1 s) + lookahead 2 = 50 per tick; channels are not the limit
    "pacing": {"max_channels": 10_000, "cps": 48},
}


def fill(engine: Engine, small: int, large: int) -> tuple[int, int]:
    """One list of ``large`` recipients; campaign A has the first ``small``, B all of them."""
    with engine.begin() as conn:
        list_id = conn.execute(
            sa.text(
                "INSERT INTO contact_lists (name, recipient_count, rejected_count) "
                "VALUES ('bench', 0, 0) RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO recipients (list_id, phone_e164, timezones, fields, row_no) "
                "SELECT :list, '+1212' || lpad(n::text, 7, '0'), '{America/New_York}', '{}', "
                "n + 1 FROM generate_series(1, :n) AS n"
            ),
            {"list": list_id, "n": large},
        )
        campaigns = cast(sa.Table, Campaign.__table__)
        ids = [
            conn.execute(
                sa.insert(campaigns)
                .values(name=name, type="broadcast", status="paused", config=CONFIG)
                .returning(campaigns.c.id)
            ).scalar_one()
            for name in ("small", "large")
        ]
        for campaign_id, size in zip(ids, (small, large), strict=True):
            conn.execute(
                sa.text(
                    "INSERT INTO campaign_recipients "
                    "(campaign_id, recipient_id, status, attempts, next_attempt_at) "
                    "SELECT :c, id, 'pending', 0, :due FROM recipients "
                    "WHERE list_id = :list ORDER BY id LIMIT :n"
                ),
                {"c": campaign_id, "list": list_id, "due": T0, "n": size},
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return ids[0], ids[1]


def reset(engine: Engine, campaign_id: int) -> None:
    """Undo a tick: its attempts go, their recipients are pending again."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE campaign_recipients SET status = 'pending', attempts = 0, "
                "blocked_reason = NULL WHERE id IN "
                "(SELECT campaign_recipient_id FROM call_attempts WHERE campaign_id = :c)"
            ),
            {"c": campaign_id},
        )
        conn.execute(
            sa.text("DELETE FROM call_attempts WHERE campaign_id = :c"), {"c": campaign_id}
        )


def run_only(engine: Engine, campaign_id: int, others: Sequence[int]) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE campaigns SET status = 'paused' WHERE id = ANY(:ids)"),
            {"ids": list(others)},
        )
        conn.execute(
            sa.text("UPDATE campaigns SET status = 'running' WHERE id = :c"), {"c": campaign_id}
        )


def time_ticks(engine: Engine, campaigns: Sequence[int], ticks: int) -> dict[int, list[float]]:
    """``ticks`` timed ticks per campaign, taking turns (each alone), after one untimed each."""
    clock = FrozenClock(T0)
    leases = MemoryLeases()
    leases.restore([], clock.time())
    settings = Settings()
    sent: list[str] = []
    seconds: dict[int, list[float]] = {c: [] for c in campaigns}
    for index in range(ticks + 1):
        for campaign_id in campaigns:
            run_only(engine, campaign_id, campaigns)
            started = time.perf_counter()
            report = tick(
                engine,
                leases=leases,
                dispatch=sent.extend,
                settings=settings,
                clock=clock,
                pending_gauge=False,
            )
            elapsed = time.perf_counter() - started
            admitted = report.campaigns[campaign_id].admitted
            if admitted != 50:
                raise SystemExit(f"campaign {campaign_id}: a tick admitted {admitted}, not 50")
            if index:  # the first warms caches and the connection pool
                seconds[campaign_id].append(elapsed)
            reset(engine, campaign_id)
    return seconds


def explain(engine: Engine, campaign_id: int) -> None:
    for order in ("next_attempt_at", "next_attempt_at, cr.id"):
        with engine.connect() as conn:
            plan = conn.execute(
                sa.text(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
                    "SELECT cr.id, r.phone_e164, r.timezones FROM campaign_recipients cr "
                    "JOIN recipients r ON r.id = cr.recipient_id "
                    "WHERE cr.campaign_id = :c AND cr.status = 'pending' "
                    f"AND cr.next_attempt_at <= :now ORDER BY {order} LIMIT 100 "
                    "FOR UPDATE OF cr SKIP LOCKED"
                ),
                {"c": campaign_id, "now": T0},
            )
            print(f"-- ORDER BY {order}")
            for (line,) in plan:
                print("   ", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    admin = make_engine(args.url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"dialer_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(make_engine(args.url).url).set(database=name)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        started = time.perf_counter()
        small, large = fill(engine, args.small, args.large)
        print(
            f"filled {args.large:,} recipients, campaigns of {args.small:,} and "
            f"{args.large:,} pending in {time.perf_counter() - started:.1f} s"
        )
        timed = time_ticks(engine, [small, large], args.ticks)
        results = {}
        for campaign_id, size in ((small, args.small), (large, args.large)):
            seconds = timed[campaign_id]
            results[size] = statistics.median(seconds)
            print(
                f"{size:>9,} pending: median {results[size] * 1000:7.2f} ms per tick admitting 50 "
                f"(min {min(seconds) * 1000:.2f}, max {max(seconds) * 1000:.2f}, "
                f"{len(seconds)} ticks)"
            )
        ratio = results[args.large] / results[args.small]
        print(f"ratio {args.large:,} / {args.small:,}: {ratio:.2f}x (goal <= 2x)")
        if args.explain:
            explain(engine, large)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
