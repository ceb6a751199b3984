"""Microseconds per calling-hours question, cold and warm, as the scheduler asks them.

``python -m bench.windows [--recipients N]``: a campaign with US holidays, Monday to Saturday
and one stricter rule; recipients spread over the US zones (some spanning two), questions at
instants spread over one week.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dialer.campaigns.schedule import CallingHours, CallingRule, Schedule

ZONES: list[tuple[str, ...]] = [
    ("America/New_York",),
    ("America/Chicago",),
    ("America/Denver",),
    ("America/Phoenix",),
    ("America/Los_Angeles",),
    ("America/Chicago", "America/New_York"),
    ("America/Denver", "America/Los_Angeles"),
    ("Pacific/Honolulu",),
    ("Etc/Unknown",),
]
PHONES = ["+12125550100", "+13055550100", "+13125550100", "+14155550100"]
RULE = CallingRule(name="Florida (FTSA)", prefixes=["+1305", "+1786"], window="08:00-20:00")


def per_call(
    function: Callable[[tuple[str, ...], datetime, str], object],
    calls: list[tuple[tuple[str, ...], datetime, str]],
) -> float:
    started = time.perf_counter()
    for zones, at, phone in calls:
        function(zones, at, phone)
    return (time.perf_counter() - started) / len(calls) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=100_000)
    args = parser.parse_args()
    rnd = random.Random(7)
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    calls = [
        (
            rnd.choice(ZONES),
            monday + timedelta(seconds=rnd.randrange(7 * 86400)),
            rnd.choice(PHONES),
        )
        for _ in range(args.recipients)
    ]
    calling_schedule = Schedule(days=["mon", "tue", "wed", "thu", "fri", "sat"], holidays="US")
    calling = CallingHours(calling_schedule, [RULE])
    print(f"{len(calls)} questions over one week, {len(ZONES)} zone sets, one rule")
    for name in ("is_open", "next_open"):
        fresh = [CallingHours(calling_schedule, [RULE]) for _ in range(1000)]
        started = time.perf_counter()
        for instance, (zones, at, phone) in zip(fresh, calls, strict=False):
            getattr(instance, name)(zones, at, phone)
        cold = (time.perf_counter() - started) / len(fresh) * 1e6
        print(f"{name:<14} cold       {cold:6.2f} µs/call (empty caches)")
    print(f"is_open        first pass {per_call(calling.is_open, calls):6.2f} µs/call")
    for name, function in [
        ("is_open", calling.is_open),
        ("next_open", calling.next_open),
        ("open_until", calling.open_until),
        ("blocked_reason", calling.blocked_reason),
    ]:
        per_call(function, calls)
        print(f"{name:<14} warm       {per_call(function, calls):6.2f} µs/call")


if __name__ == "__main__":
    main()
