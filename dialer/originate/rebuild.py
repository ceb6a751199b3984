"""Rebuild the leases from the record of truth after the lease store lost them.

Redis holds only what may be rebuilt (DESIGN §2): every live attempt in PostgreSQL holds one
lease in each scope of its call, expiring when its ring or its talk time would be over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.campaigns.model import CampaignConfig
from dialer.clock import Clock
from dialer.config import ConfigError, Settings
from dialer.db.models import LIVE_ATTEMPT_STATES, CallAttempt, Campaign
from dialer.leases import LeaseBackend, Scope
from dialer.originate.scopes import answered_ttl, call_limits, ringing_ttl
from dialer.trunks import TrunkConfig


def live_leases(
    engine: Engine, settings: Settings, now: float
) -> list[tuple[str, Sequence[Scope], float]]:
    nodes = {node.name: node for node in settings.nodes}
    configs: dict[int, CampaignConfig] = {}
    out: list[tuple[str, Sequence[Scope], float]] = []
    with Session(engine) as session:
        rows = session.execute(
            sa.select(
                CallAttempt.id,
                CallAttempt.campaign_id,
                CallAttempt.trunk,
                CallAttempt.fs_node,
                CallAttempt.state,
                CallAttempt.options,
                CallAttempt.claimed_at,
                CallAttempt.answered_at,
                Campaign.config,
            )
            .outerjoin(Campaign, Campaign.id == CallAttempt.campaign_id)
            .where(CallAttempt.state.in_(LIVE_ATTEMPT_STATES))
        ).all()
    for row in rows:
        node = nodes.get(row.fs_node or "")
        trunk = _trunk(settings, row.trunk)
        if node is None or trunk is None:
            continue  # a node or trunk no longer configured: nothing to count it against
        config = None
        if row.campaign_id is not None:
            config = configs.get(row.campaign_id)
            if config is None:
                config = configs[row.campaign_id] = CampaignConfig.model_validate(row.config)
        limits = call_limits(campaign_id=row.campaign_id, config=config, trunk=trunk, node=node)
        expires = _expiry(row.state, row.options, row.claimed_at, row.answered_at, now)
        out.append((str(row.id), limits.scopes, expires))
    return out


def _trunk(settings: Settings, name: str | None) -> TrunkConfig | None:
    try:
        return settings.trunk(name or "default")
    except ConfigError:
        return None


def _expiry(
    state: str,
    options: dict[str, object],
    claimed_at: datetime | None,
    answered_at: datetime | None,
    now: float,
) -> float:
    ring = float(options.get("ring_timeout", 30))  # type: ignore[arg-type]
    talk = float(options.get("max_duration", 300))  # type: ignore[arg-type]
    if state == "answered" and answered_at is not None:
        return answered_at.timestamp() + answered_ttl(talk)
    start = claimed_at.timestamp() if claimed_at is not None else now
    # never shorter than one ring from now: a lease that lapses early could let a limit be
    # exceeded, one that lasts too long only delays a call until the sweeper frees it
    return max(start + ringing_ttl(ring) + talk, now + ringing_ttl(ring))


def rebuild_leases(
    engine: Engine, leases: LeaseBackend, settings: Settings, clock: Clock
) -> int:
    now = clock.time()
    return leases.restore(live_leases(engine, settings, now), now)


__all__ = ["live_leases", "rebuild_leases"]
