"""The injectable clock and the one conversion of wall time into clock time."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer.clock import FrozenClock, RealClock, ScaledClock, clock_seconds


def test_a_fast_clock_counts_wall_time_in_more_clock_seconds() -> None:
    fast = ScaledClock(0.01, "2026-06-02T09:00:00-05:00")
    assert clock_seconds(fast, 10.0) == 1000.0
    assert fast.now() >= datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


def test_real_and_frozen_clocks_keep_the_value() -> None:
    assert clock_seconds(RealClock(), 10.0) == 10.0
    assert clock_seconds(FrozenClock(), 10.0) == 10.0
    # a slow clock never shortens a wall-time wait
    assert clock_seconds(ScaledClock(10.0), 10.0) == 10.0


def test_a_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock("2026-06-02T14:00:00Z")
    clock.sleep(30)
    assert clock.now() == datetime(2026, 6, 2, 14, 0, 30, tzinfo=UTC)
