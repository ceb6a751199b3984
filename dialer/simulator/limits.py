"""Session limits like a FreeSWITCH node (``switch_core_session_request_xml``).

Real FreeSWITCH keeps a per-second counter, refilled to ``sessions-per-second`` once a second
by the timer thread, and refuses a new session when ``--runtime.sps <= 0`` ("Throttle Error!")
or when ``session_count + 1 > max-sessions`` ("Over Session Limit!"). Both return no session,
and the endpoint turns that into ``DESTINATION_OUT_OF_ORDER`` (fixture 09a: 35 throttled
originates got ``-ERR DESTINATION_OUT_OF_ORDER``). With the default 30 the counter admits 29
sessions per second — fixture 09a shows exactly 14 loopback calls (28 sessions) plus one A leg.

A loopback call takes two sessions (A and B leg); if only the A leg gets one, the call rings
until ``originate_timeout`` and fails ``NO_ANSWER`` — as the one odd call in 09a did.
"""

from __future__ import annotations

import threading
import time

REFUSED_CAUSE = "DESTINATION_OUT_OF_ORDER"


class SessionLimits:
    def __init__(self, max_sessions: int = 1000, sessions_per_second: int = 30) -> None:
        self.max_sessions = max_sessions
        self.sps = sessions_per_second
        self.count = 0
        self.peak = 0
        self.total = 0
        self.sps_peak = 0  # most sessions started within one second (status "peak")
        self.sps_last = 0  # sessions started in the last complete second
        self._budget = sessions_per_second
        self._second = int(time.monotonic())
        self._lock = threading.Lock()

    def set_sps(self, sps: int) -> None:
        with self._lock:
            self.sps = sps
            self._budget = sps

    def _refill(self) -> None:
        second = int(time.monotonic())
        if second != self._second:
            self.sps_last = max(0, self.sps - self._budget) if second == self._second + 1 else 0
            self._second = second
            self._budget = self.sps

    def acquire(self, sessions: int) -> int:
        """Take up to ``sessions`` sessions one by one, as the switch creates legs; returns how
        many were granted (0 = the originate is refused)."""
        granted = 0
        with self._lock:
            self._refill()
            for _ in range(sessions):
                self._budget -= 1
                if self._budget <= 0:
                    self._budget = 0
                    break
                if self.count + 1 > self.max_sessions:
                    break
                self.count += 1
                self.total += 1
                granted += 1
            self.peak = max(self.peak, self.count)
            self.sps_peak = max(self.sps_peak, self.sps - self._budget)
        return granted

    def release(self, sessions: int) -> None:
        with self._lock:
            self.count = max(0, self.count - sessions)

    def per_second_used(self) -> int:
        with self._lock:
            self._refill()
            return max(0, self.sps - self._budget)
