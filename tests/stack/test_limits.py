"""Channel limits and calls per second across real processes, judged from the switch's ledger.

Four originate workers (50 greenlets each) compete for every call; only the leases in Redis
keep the campaign's and the trunk's limits, and only the token buckets keep the rate. The
simulator records what it was really asked to do.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.stack.harness import (
    Stack,
    concurrency,
    duplicate_originates,
    ended_in_the_future,
    make_campaign,
    make_list,
    not_final,
    originates,
    peak,
    steady_rate,
    wait_campaign,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

TRUNKS = json.dumps(
    [
        {"name": "default", "dial": "sofia/gateway/default/{number}"},
        {"name": "shared", "dial": "sofia/gateway/shared/{number}", "max_channels": 10, "cps": 50},
    ]
)


def calls_lasting(seconds: float, ring: float = 0.2) -> dict[str, Any]:
    """Every call rings ``ring`` and is answered, then hung up ``seconds`` after (real
    seconds: the simulator runs on the real clock, as the dialer does; see Stack.time_scale)."""
    return {
        "name": "stack-limits",
        "ring": ring,
        "outcomes": {"answer": 1.0},
        "numbers": {"+*": {"hangup_after": seconds}},
    }


def assert_finished_cleanly(stack: Stack, engine: Engine, campaign_ids: list[int]) -> None:
    facts = stack.ledger()
    assert duplicate_originates(facts) == {}
    for campaign_id in campaign_ids:
        assert not_final(engine, campaign_id) == {}
        assert ended_in_the_future(engine, campaign_id) == []
    assert stack.leases() == {}
    assert stack.dead() == []


def test_one_campaign_is_held_at_its_max_channels(
    tmp_path: Path, postgres_url: str, pg: Engine
) -> None:
    # calls of ~2.2 s at cps 20 would want ~40 channels: only max_channels stops it at 8
    with Stack(tmp_path, postgres_url, scenario=calls_lasting(2.0), trunks=TRUNKS,
               originate_workers=4) as stack:  # fmt: skip
        make_list(pg, tmp_path, "a", 64)
        a = make_campaign(pg, stack.settings, name="A", lists=["a"], max_channels=8, cps=20)
        took = wait_campaign(pg, a, timeout=60)
        facts = stack.ledger()
        assert len(originates(facts, a)) == 64
        series = concurrency(facts, [a])
        assert max(live for _, live in series) == 8, series
        # held there, not merely touched: most of the run is spent at the limit
        at_limit = sum(t1 - t0 for (t0, live), (t1, _) in itertools.pairwise(series) if live == 8)
        span = series[-1][0] - series[0][0]
        assert at_limit > 0.3 * span, (at_limit, span)
        assert_finished_cleanly(stack, pg, [a])
        print(f"A: 64 calls in {took:.1f} s, {at_limit:.1f} of {span:.1f} s at 8 channels")


def test_two_campaigns_on_one_trunk_share_its_channels(
    tmp_path: Path, postgres_url: str, pg: Engine
) -> None:
    with Stack(tmp_path, postgres_url, scenario=calls_lasting(2.0), trunks=TRUNKS,
               originate_workers=4) as stack:  # fmt: skip
        make_list(pg, tmp_path, "b", 50)
        make_list(pg, tmp_path, "c", 50, start=50)
        b = make_campaign(pg, stack.settings, name="B", lists=["b"], max_channels=10,
                          cps=20, trunk="shared")  # fmt: skip
        c = make_campaign(pg, stack.settings, name="C", lists=["c"], max_channels=10,
                          cps=20, trunk="shared")  # fmt: skip
        took = max(wait_campaign(pg, b, timeout=60), wait_campaign(pg, c, timeout=60))
        facts = stack.ledger()
        series = concurrency(facts, [b, c])
        over = [(t, live) for t, live in series if live > 10]
        assert over == [], f"the trunk's 10 channels exceeded at {over[:5]}"
        assert max(live for _, live in series) == 10
        # each got a share while both had calls to make
        both_until = min(
            max(float(f["t"]) for f in originates(facts, b)),
            max(float(f["t"]) for f in originates(facts, c)),
        )
        share = {
            cid: sum(1 for f in originates(facts, cid) if float(f["t"]) <= both_until)
            for cid in (b, c)
        }
        total = sum(share.values())
        assert min(share.values()) >= 0.3 * total, share
        assert peak(facts, [b]) >= 3
        assert peak(facts, [c]) >= 3
        assert len(originates(facts, b)) == len(originates(facts, c)) == 50
        assert_finished_cleanly(stack, pg, [b, c])
        print(f"B+C: 100 calls in {took:.1f} s, shares {share}, peaks "
              f"{peak(facts, [b])}/{peak(facts, [c])}")  # fmt: skip


def test_calls_per_second_is_kept(tmp_path: Path, postgres_url: str, pg: Engine) -> None:
    with Stack(tmp_path, postgres_url, scenario=calls_lasting(0.5), trunks=TRUNKS,
               originate_workers=4) as stack:  # fmt: skip
        make_list(pg, tmp_path, "d", 100)
        d = make_campaign(pg, stack.settings, name="D", lists=["d"], max_channels=50, cps=5)
        started = time.monotonic()
        wait_campaign(pg, d, timeout=60)
        took = time.monotonic() - started
        facts = stack.ledger()
        assert len(originates(facts, d)) == 100
        rate = steady_rate(facts, d, trim=0.2)
        assert 4.5 <= rate <= 5.5, rate
        # and never a burst beyond the bucket: no second of the run holds more than cps + burst
        times = sorted(float(f["t"]) for f in originates(facts, d))
        busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
        assert busiest <= 10, busiest
        assert_finished_cleanly(stack, pg, [d])
        print(f"D: 100 calls in {took:.1f} s, {rate:.2f} calls/s in the middle, "
              f"busiest second {busiest}")  # fmt: skip
