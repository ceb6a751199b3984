"""The one injectable clock: every part of the engine reads time from here, never from
``datetime.now()`` or ``time.time()`` directly (DESIGN §9).

- :class:`RealClock` — wall time; the default.
- :class:`FrozenClock` — stands still until a test moves it (``advance``, ``set``); ``sleep``
  advances it, so code that waits runs instantly under test.
- :class:`ScaledClock` — simulated time for ``dialer run --simulate``: starts at a chosen
  moment and runs ``1 / time_scale`` times faster than the wall (``time_scale=0.01`` makes a
  30 s ring last 0.3 s). The simulator is given the same origin, so both agree on the time.

``sleep`` is in simulated seconds and yields to gevent when gevent is the concurrency model.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    def time(self) -> float:
        """The current instant as epoch seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def real_seconds(self, seconds: float) -> float:
        """How many wall seconds ``seconds`` of this clock's time take."""
        ...


def _sleep(seconds: float) -> None:
    # gevent's sleep when the process is monkey-patched; time.sleep is then the same thing
    time.sleep(max(0.0, seconds))


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        _sleep(seconds)

    def real_seconds(self, seconds: float) -> float:
        return seconds


class FrozenClock:
    """Time that moves only when told; thread-safe."""

    def __init__(self, start: datetime | str = "2026-06-02T14:00:00Z") -> None:
        self._lock = threading.Lock()
        self._now = _aware(start)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.now().timestamp()

    def set(self, when: datetime | str) -> None:
        with self._lock:
            self._now = _aware(when)

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **delta)
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        _sleep(0)  # let other greenlets run, as a real sleep would

    def real_seconds(self, seconds: float) -> float:
        return 0.0


class ScaledClock:
    """Simulated time: ``start`` plus wall time elapsed divided by ``time_scale``."""

    def __init__(self, time_scale: float = 1.0, start: datetime | str | None = None) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self.mono0 = time.monotonic()
        self.epoch0 = _aware(start).timestamp() if start is not None else time.time()

    def time(self) -> float:
        return self.epoch0 + (time.monotonic() - self.mono0) / self.time_scale

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def sleep(self, seconds: float) -> None:
        _sleep(seconds * self.time_scale)

    def real_seconds(self, seconds: float) -> float:
        return max(0.0, seconds * self.time_scale)


def clock_seconds(clock: Clock, wall_seconds: float) -> float:
    """``wall_seconds`` of real time in ``clock`` seconds, never fewer than given: what takes
    wall time (a message in flight, a bgapi becoming a channel) does not shrink when the
    clock runs faster. A frozen clock has no wall time to convert: the value as given."""
    per_second = clock.real_seconds(1.0)
    if per_second <= 0:
        return wall_seconds
    return max(wall_seconds, wall_seconds / per_second)


def _aware(when: datetime | str) -> datetime:
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"clock times must carry a zone: {when.isoformat()}")
    return when.astimezone(UTC)


_default: Clock = RealClock()


def get_clock() -> Clock:
    """The process clock; ``dialer run --simulate`` and tests replace it with ``set_clock``."""
    return _default


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` for the process; returns the previous one (to restore in tests)."""
    global _default
    previous, _default = _default, clock
    return previous
