"""Handing queued attempts to the broker, and again when their message was lost.

``dispatched_at`` is the record: set (in the transaction that made or re-selected the attempt)
before the ids go to ``dispatch``; put back to NULL if ``dispatch`` raised, so the next tick
sends them again. A queued attempt whose ``dispatched_at`` is older than ``redispatch_after``
lost its message (a Redis restarted, a worker died holding it unacknowledged) and is sent
again: a second delivery is harmless, the worker's compare-and-set (``state='queued'`` →
``originating``) lets only one of them dial.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.db.models import CallAttempt, Campaign

log = logging.getLogger("dialer.scheduler")

#: Seconds after which a queued attempt's broker message is taken as lost.
REDISPATCH_AFTER = 120.0
#: Attempts re-dispatched per tick at most (the rest wait a tick).
REDISPATCH_LIMIT = 5000

Dispatch = Callable[[Sequence[str]], None]

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)


def select_for_redispatch(
    engine: Engine,
    *,
    now: datetime,
    redispatch_after: float = REDISPATCH_AFTER,
    limit: int = REDISPATCH_LIMIT,
) -> dict[int | None, list[str]]:
    """Mark the attempts to send again (``dispatched_at = now``); their ids by campaign.

    Queued attempts of running campaigns and single calls (no campaign) that were never
    handed over, or whose ``not_before`` has passed, or whose hand-over is stale.
    """
    stale = now - timedelta(seconds=redispatch_after)
    a = _ATTEMPTS
    query = (
        sa.select(a.c.id, a.c.campaign_id)
        .select_from(a.outerjoin(_CAMPAIGNS, _CAMPAIGNS.c.id == a.c.campaign_id))
        .where(
            a.c.state == "queued",
            sa.or_(a.c.campaign_id.is_(None), _CAMPAIGNS.c.status == "running"),
            sa.or_(a.c.not_before.is_(None), a.c.not_before <= now),
            sa.or_(a.c.dispatched_at.is_(None), a.c.dispatched_at < stale),
        )
        .order_by(a.c.state_changed_at)
        .limit(limit)
    )
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=a, skip_locked=True)
        rows = list(conn.execute(query))
        if not rows:
            return {}
        ids = [row.id for row in rows]
        for start in range(0, len(ids), 500):
            conn.execute(
                sa.update(a)
                .where(a.c.id.in_(ids[start : start + 500]), a.c.state == "queued")
                .values(dispatched_at=now)
            )
    grouped: dict[int | None, list[str]] = {}
    for row in rows:
        grouped.setdefault(row.campaign_id, []).append(str(row.id))
    return grouped


def hand_over(engine: Engine, dispatch: Dispatch, ids: Sequence[str], *, now: datetime) -> bool:
    """Call ``dispatch(ids)``; if it raises, clear ``dispatched_at`` so the next tick retries.

    Only attempts still queued and still marked by this hand-over are cleared.
    """
    if not ids:
        return True
    try:
        dispatch(list(ids))
    except Exception:
        log.exception("scheduler: dispatch of %d attempts failed; retried next tick", len(ids))
        uuids = [uuid.UUID(i) for i in ids]
        with engine.begin() as conn:
            for start in range(0, len(uuids), 500):
                conn.execute(
                    sa.update(_ATTEMPTS)
                    .where(
                        _ATTEMPTS.c.id.in_(uuids[start : start + 500]),
                        _ATTEMPTS.c.state == "queued",
                        _ATTEMPTS.c.dispatched_at == now,
                    )
                    .values(dispatched_at=None)
                )
        return False
    return True
