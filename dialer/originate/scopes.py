"""Which limits one call counts against: the lease scopes and the cps buckets (DESIGN §6)."""

from __future__ import annotations

from dataclasses import dataclass

from dialer.campaigns.model import CampaignConfig
from dialer.fs_nodes import NodeConfig
from dialer.leases import Bucket, Scope
from dialer.trunks import TrunkConfig

#: Slack on a lease beyond the time the call may legitimately take: a consumer that is a
#: little late to release never lets a limit be exceeded, and a crashed one frees it soon.
LEASE_SLACK_SECONDS = 60.0


@dataclass(frozen=True)
class CallLimits:
    scopes: tuple[Scope, ...]
    buckets: tuple[Bucket, ...]


def call_limits(
    *,
    campaign_id: int | None,
    config: CampaignConfig | None,
    trunk: TrunkConfig,
    node: NodeConfig,
) -> CallLimits:
    """Scopes in the order a rejection is reported: campaign, trunk, node, global."""
    scopes: list[Scope] = []
    buckets: list[Bucket] = []
    if campaign_id is not None and config is not None:
        scopes.append(Scope("campaign", str(campaign_id), config.pacing.max_channels))
        buckets.append(Bucket("campaign", str(campaign_id), config.pacing.cps))
    scopes.append(Scope("trunk", trunk.name, trunk.max_channels))
    if trunk.cps is not None:
        buckets.append(Bucket("trunk", trunk.name, trunk.cps))
    scopes.append(Scope("node", node.name, node.max_channels))
    # the node's own sessions-per-second: exceeding it makes FreeSWITCH refuse originates
    buckets.append(Bucket("node", node.name, node.sessions_per_second))
    scopes.append(Scope("global", "all", None))
    return CallLimits(tuple(scopes), tuple(buckets))


def ringing_ttl(ring_timeout: float) -> float:
    return ring_timeout + LEASE_SLACK_SECONDS


def answered_ttl(max_duration: float) -> float:
    return max_duration + LEASE_SLACK_SECONDS
