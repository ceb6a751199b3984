"""The event consumer: one long-running process per FreeSWITCH node (``dialer consumer``)."""

from __future__ import annotations

from dialer.consumer.service import (
    CHANNEL_EVENTS,
    CUSTOM_SUBCLASSES,
    Consumer,
    attempt_of,
    parse_channels,
    run_consumer,
)
from dialer.consumer.store import persist_batch, reconcile_node

__all__ = [
    "CHANNEL_EVENTS",
    "CUSTOM_SUBCLASSES",
    "Consumer",
    "attempt_of",
    "parse_channels",
    "persist_batch",
    "reconcile_node",
    "run_consumer",
]
