"""Simulated time: wall time stretched by ``1 / time_scale`` from the moment the switch started.

Event timestamps and CDR variables use this clock, so a 30 s ring run at ``time_scale=0.01``
takes 0.3 s of real time but still reads as 30 s in the events. Limits (sessions per second)
and the ledger's ``t`` stay in real time: they describe what the client really did.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SimClock:
    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        epoch0: float | None = None,
        mono0: float | None = None,
    ) -> None:
        """``epoch0``/``mono0`` pin the origin: a dialer that runs on a scaled clock gives the
        switch the same origin, so both read the same simulated time (``dialer run
        --simulate --start-at``)."""
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self._mono0 = time.monotonic() if mono0 is None else mono0
        self._epoch0 = time.time() if epoch0 is None else epoch0

    def real_elapsed(self) -> float:
        """Real seconds since start (the ledger's ``t``)."""
        return time.monotonic() - self._mono0

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._epoch0 + self.real_elapsed() / self.time_scale

    def now_us(self) -> int:
        return int(self.now() * 1_000_000)

    def real(self, simulated_seconds: float) -> float:
        """How long to really sleep for a simulated duration."""
        return max(0.0, simulated_seconds * self.time_scale)


def date_local(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6).strftime("%Y-%m-%d %H:%M:%S")


def date_gmt(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def uptime_text(us: int) -> str:
    """``switch_core_uptime`` as status and HEARTBEAT print it (singular when 1)."""
    secs, micro = divmod(us, 1_000_000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    days, hours = divmod(hours, 24)
    years, days = divmod(days, 365)
    parts = (
        (years, "year"),
        (days, "day"),
        (hours, "hour"),
        (mins, "minute"),
        (secs, "second"),
        (micro // 1000, "millisecond"),
        (micro % 1000, "microsecond"),
    )
    return ", ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts)
