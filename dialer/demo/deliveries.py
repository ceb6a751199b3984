"""The outbox after the campaign: delivered until every ``webhook_deliveries`` row is
``delivered`` or ``dead``, or a timeout passes.

The embedded run sends what is due while it runs and for a while after; what is left (the last
calls' events, retries waiting for their backoff) is sent here by a deliverer of our own, on a
clock that goes on from where the run's simulated clock stopped, at the same pace: a retry's
backoff passes as quickly as it would have during the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.clock import Clock
from dialer.config import Settings
from dialer.db.models import WebhookDelivery
from dialer.webhooks.delivery import Deliverer

_DELIVERIES = cast(sa.Table, WebhookDelivery.__table__)
SETTLED = ("delivered", "dead")


@dataclass(frozen=True)
class DeliveryState:
    by_status: dict[str, int] = field(default_factory=dict)
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def unsettled(self) -> int:
        return sum(n for status, n in self.by_status.items() if status not in SETTLED)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def delivery_counts(engine: Engine) -> dict[str, int]:
    d = _DELIVERIES
    with engine.connect() as conn:
        rows = conn.execute(sa.select(d.c.status, sa.func.count()).group_by(d.c.status)).all()
    return {str(status): int(count) for status, count in rows}


def settle(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    timeout: float,
    idle: float = 0.2,
    on_round: Callable[[DeliveryState], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> DeliveryState:
    """Deliver rounds until nothing is pending, ``timeout`` real seconds passed or ``stop()``."""
    started = time.monotonic()
    deliverer = Deliverer(engine, settings=settings, clock=clock)
    try:
        while True:
            state = DeliveryState(delivery_counts(engine), seconds=time.monotonic() - started)
            if on_round is not None:
                on_round(state)
            if state.unsettled == 0:
                return state
            if state.seconds >= timeout or stop():
                return DeliveryState(state.by_status, timed_out=True, seconds=state.seconds)
            if not deliverer.run_round().claimed:
                time.sleep(idle)  # what is left waits for its backoff
    finally:
        deliverer.close()
