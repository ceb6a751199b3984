"""Reconnect delays: exponential backoff with full jitter.

Full jitter (a uniform draw below the exponential cap) spreads the reconnects of many workers
after a FreeSWITCH restart instead of having them all knock at the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    base: float = 0.2
    cap: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < self.base or self.factor < 1:
            raise ValueError("need 0 <= base <= cap and factor >= 1")

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay before reconnect attempt ``attempt`` (0-based)."""
        # min() before the power would overflow for a long outage.
        exponent = min(attempt, 64)
        return min(self.cap, self.base * self.factor**exponent)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0.0, self.ceiling(attempt))
