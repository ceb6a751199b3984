"""How many recipients each running campaign may be given this tick.

For one campaign the answer is the smaller of two things:

* **free channels**: the least, over every scope with a limit (the campaign's
  ``pacing.max_channels``, its trunk's ``max_channels``, the nodes' ``max_channels`` summed), of
  ``limit − calls up in that scope − attempts queued against it``. "Calls up" is the lease
  backend's count, read for every scope at one instant. The consumer frees a lease the moment
  a hangup arrives, before the attempt's end is stored, so that count is the first to know a
  channel is free. A lease backend that lost its state counts nothing, and the scheduler must
  not read that as "all free": then the database's live attempts count instead;
* **the pacing budget**: ``ceil(cps × tick_seconds) + lookahead`` minus the attempts already
  queued, for the campaign's cps and for its trunk's cps (shared by the trunk's campaigns).

A queued attempt counts against every limit until a worker claims it, so running a tick twice
admits nothing the second time.

Limits shared by several campaigns (a trunk's channels and cps, the nodes) are divided by
water-filling (max-min fairness): every campaign's share grows by the same step until its own
limit or a shared one is reached, so a campaign that needs little leaves the rest to the
others. The integer remainder goes round in an order that rotates every tick.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import Connection

from dialer import metrics
from dialer.campaigns.model import CampaignConfig
from dialer.config import ConfigError, Settings
from dialer.db.models import CallAttempt
from dialer.fs_nodes import NodeConfig
from dialer.leases.backend import LeaseBackend
from dialer.trunks import TrunkConfig

#: A shared limit: ("trunk_channels", name), ("trunk_cps", name) or ("nodes", "all").
Pool = tuple[str, str]
K = TypeVar("K", bound=Hashable)
P = TypeVar("P", bound=Hashable)


@dataclass(frozen=True)
class RunningCampaign:
    """A campaign the scheduler may admit recipients for this tick."""

    id: int
    config: CampaignConfig
    trunk: TrunkConfig


@dataclass
class Occupancy:
    """Attempts the database holds as queued or live, by scope (one grouped query)."""

    queued_by_campaign: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    live_by_campaign: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    queued_by_trunk: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    live_by_trunk: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    live_by_node: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    queued_total: int = 0
    #: Queued attempts due to be handed to the broker (again), by campaign (None: single
    #: calls); only filled when ``occupancy`` is given ``now`` and ``stale``.
    resend_by_campaign: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))


_TABLE = cast(sa.Table, CallAttempt.__table__)
_LIVE = ("queued", "originating", "ringing", "answered")


def _occupancy_query(resend: bool) -> sa.Select[Any]:
    t = _TABLE
    columns: list[Any] = [t.c.campaign_id, t.c.trunk, t.c.fs_node, t.c.state, sa.func.count()]
    if resend:
        due = sa.and_(
            t.c.state == "queued",
            sa.or_(t.c.not_before.is_(None), t.c.not_before <= sa.bindparam("now")),
            sa.or_(t.c.dispatched_at.is_(None), t.c.dispatched_at < sa.bindparam("stale")),
        )
        columns.append(sa.func.sum(sa.case((due, 1), else_=0)))
    else:
        columns.append(sa.literal(0))
    return (
        sa.select(*columns)
        .where(t.c.state.in_(_LIVE))
        .group_by(t.c.campaign_id, t.c.trunk, t.c.fs_node, t.c.state)
    )


# Built once: a statement's construction and cache key cost more than running it.
_PLAIN = _occupancy_query(resend=False)
_WITH_RESEND = _occupancy_query(resend=True)


def occupancy(
    conn: Connection, *, now: datetime | None = None, stale: datetime | None = None
) -> Occupancy:
    """Queued and live attempts by campaign, trunk and node.

    Only attempts in a live state are read (index ``ix_call_attempts_state_changed``): there are
    never more of them than there are channels, whatever the size of the lists.

    With ``now`` and ``stale``, the same statement also counts the queued attempts the
    re-dispatcher would pick (never handed over, ``not_before`` passed, or handed over before
    ``stale``), so that a round with none skips its query.
    """
    if now is not None and stale is not None:
        rows = conn.execute(_WITH_RESEND, {"now": now, "stale": stale})
    else:
        rows = conn.execute(_PLAIN)
    found = Occupancy()
    for campaign_id, trunk, node, state, count, resend_count in rows:
        if resend_count:
            found.resend_by_campaign[campaign_id] += int(resend_count)
        if state == "queued":
            found.queued_total += count
            if campaign_id is not None:
                found.queued_by_campaign[campaign_id] += count
            if trunk is not None:
                found.queued_by_trunk[trunk] += count
        else:
            if campaign_id is not None:
                found.live_by_campaign[campaign_id] += count
            if trunk is not None:
                found.live_by_trunk[trunk] += count
            if node is not None:
                found.live_by_node[node] += count
    return found


def pacing_budget(cps: float, tick_seconds: float, lookahead: int, queued: int) -> int:
    """New calls one tick may queue at ``cps``: ``ceil(cps × tick) + lookahead − queued``."""
    return max(0, math.ceil(cps * tick_seconds - 1e-9) + lookahead - queued)


@dataclass(frozen=True)
class CampaignCapacity:
    """What one campaign may be given before sharing: its own limits and its shared pools."""

    free_channels: int
    budget: int
    pools: tuple[Pool, ...]

    @property
    def own(self) -> int:
        return max(0, min(self.free_channels, self.budget))


@dataclass(frozen=True)
class CapacityPlan:
    campaigns: dict[int, CampaignCapacity]
    pools: dict[Pool, int]


def plan_capacity(
    campaigns: Sequence[RunningCampaign],
    *,
    leases: LeaseBackend,
    settings: Settings,
    now: float,
    found: Occupancy,
    tick_seconds: float,
    lookahead: int,
) -> CapacityPlan:
    """Each campaign's own limit and the free room in every shared pool, at ``now``."""
    pools: dict[Pool, int] = {}
    trunks = {c.trunk.name: c.trunk for c in campaigns}
    nodes = settings_nodes(settings)
    keys = [f"trunk:{name}" for name, t in trunks.items() if t.max_channels is not None]
    keys += [f"node:{node.name}" for node in nodes]
    keys += [f"campaign:{c.id}" for c in campaigns]
    counted = leases.count_many(keys, now)
    held = dict(zip(keys, counted, strict=True)) if counted is not None else None

    def calls_up(key: str, live: int) -> int:
        # the database only when the lease backend lost its state (it counts nothing then)
        return held[key] if held is not None else live

    for name, trunk in trunks.items():
        queued = found.queued_by_trunk.get(name, 0)
        if trunk.max_channels is not None:
            up = calls_up(f"trunk:{name}", found.live_by_trunk.get(name, 0))
            pools[("trunk_channels", name)] = max(0, trunk.max_channels - up - queued)
            _observe("trunk", name, up, trunk.max_channels)
        if trunk.cps is not None:
            pools[("trunk_cps", name)] = pacing_budget(trunk.cps, tick_seconds, lookahead, queued)
    if nodes:
        room = 0
        for node in nodes:
            up = calls_up(f"node:{node.name}", found.live_by_node.get(node.name, 0))
            room += max(0, node.max_channels - up)
            _observe("node", node.name, up, node.max_channels)
        pools[("nodes", "all")] = max(0, room - found.queued_total)

    planned: dict[int, CampaignCapacity] = {}
    for campaign in campaigns:
        pacing = campaign.config.pacing
        queued = found.queued_by_campaign.get(campaign.id, 0)
        up = calls_up(f"campaign:{campaign.id}", found.live_by_campaign.get(campaign.id, 0))
        own_free = max(0, pacing.max_channels - up - queued)
        _observe("campaign", str(campaign.id), up, pacing.max_channels)
        mine: tuple[Pool, ...] = tuple(
            pool
            for pool in (
                ("trunk_channels", campaign.trunk.name),
                ("trunk_cps", campaign.trunk.name),
                ("nodes", "all"),
            )
            if pool in pools
        )
        free = min([own_free, *(pools[p] for p in mine if p[0] != "trunk_cps")])
        budget = min(
            [
                pacing_budget(pacing.cps, tick_seconds, lookahead, queued),
                *(pools[p] for p in mine if p[0] == "trunk_cps"),
            ]
        )
        planned[campaign.id] = CampaignCapacity(max(0, free), max(0, budget), mine)
    return CapacityPlan(planned, pools)


_NODES: dict[str, list[NodeConfig] | ConfigError] = {}
_TRUNKS: dict[tuple[str | None, str], TrunkConfig | ConfigError] = {}


def settings_nodes(settings: Settings) -> list[NodeConfig]:
    """``settings.nodes``, parsed once per ``DIALER_FS_NODES`` value (it parses on every read)."""
    found = _NODES.get(settings.fs_nodes)
    if found is None:
        try:
            found = settings.nodes
        except ConfigError as exc:
            found = exc
        if len(_NODES) > 100:
            _NODES.clear()
        _NODES[settings.fs_nodes] = found
    if isinstance(found, ConfigError):
        raise ConfigError(str(found))  # a new one: raising the same object grows its traceback
    return found


def settings_trunk(settings: Settings, name: str) -> TrunkConfig:
    """``settings.trunk(name)``, parsed once per ``DIALER_TRUNKS`` value and name."""
    key = (settings.trunks_json, name)
    found = _TRUNKS.get(key)
    if found is None:
        try:
            found = settings.trunk(name)
        except ConfigError as exc:
            found = exc
        if len(_TRUNKS) > 1000:
            _TRUNKS.clear()
        _TRUNKS[key] = found
    if isinstance(found, ConfigError):
        raise ConfigError(str(found))
    return found


def rotated(ids: Sequence[K], turn: int) -> list[K]:
    """``ids`` rotated left by ``turn`` (mod its length): who goes first changes every tick."""
    if not ids:
        return []
    shift = turn % len(ids)
    return [*ids[shift:], *ids[:shift]]


def water_fill(
    demands: Mapping[K, int],
    pools_of: Mapping[K, Sequence[P]],
    pools: Mapping[P, int],
    order: Sequence[K],
) -> dict[K, int]:
    """Max-min fair integer shares of ``pools`` for ``demands``.

    Every claimant in ``order`` takes the same step at a time, never more than its demand nor
    more than any of its pools has left; when no equal step is possible the remaining units
    go one each in ``order``. A claimant that needs little leaves its share to the others.
    """
    left = dict(pools)
    given: dict[K, int] = dict.fromkeys(order, 0)
    active = [k for k in order if demands.get(k, 0) > 0]
    while active:
        members: dict[P, int] = defaultdict(int)
        for k in active:
            for pool in pools_of.get(k, ()):
                members[pool] += 1
        steps: dict[K, int] = {}
        for k in active:
            step = demands[k] - given[k]
            for pool in pools_of.get(k, ()):
                step = min(step, left[pool] // members[pool])
            steps[k] = step
        if any(steps.values()):
            for k, step in steps.items():
                given[k] += step
                for pool in pools_of.get(k, ()):
                    left[pool] -= step
        else:
            # Fewer units than claimants somewhere: one each, in the rotating order.
            for k in active:
                if given[k] < demands[k] and all(left[p] > 0 for p in pools_of.get(k, ())):
                    given[k] += 1
                    for pool in pools_of.get(k, ()):
                        left[pool] -= 1
        still = [
            k
            for k in active
            if given[k] < demands[k] and all(left[p] > 0 for p in pools_of.get(k, ()))
        ]
        active = still
    return given


def _observe(scope: str, name: str, held: int, limit: int) -> None:
    metrics.LEASES_HELD.labels(scope=scope, name=name).set(held)
    metrics.CHANNEL_LIMIT.labels(scope=scope, name=name).set(limit)
