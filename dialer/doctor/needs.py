"""What the node must offer: the modules and queues the campaigns in scope depend on.

Without ``--campaign`` the scope is the whole product: every module the shipped flow can use,
the contract's default queue (``dialer_q@default``) and the queue targets of every campaign
that may still dial (draft, scheduled, running, paused). With one campaign the scope narrows
to what its configuration uses: mod_callcenter only for queues, mod_avmd for a voicemail drop
(and for AMD on a node without mod_amd: avmd alone decides then), mod_amd only with AMD on,
mod_httapi only for http(s) prompts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dialer.campaigns.callflow import OnMachine
from dialer.campaigns.model import CampaignConfig
from dialer.flow import contract

DEFAULT_QUEUE = contract.DEFAULTS[contract.HANDOFF_TARGET]
#: campaigns that may still place calls: their queues must exist on the node
LIVE_STATUSES = frozenset({"draft", "scheduled", "running", "paused"})
_URL_PREFIXES = ("http://", "https://")


@dataclass(frozen=True)
class Needs:
    scope: str  # "every campaign" | "campaign 3"
    callcenter: bool = True
    avmd: bool = True  # for the voicemail beep; AMD without mod_amd needs it as well
    amd: bool = True
    url_prompts: bool = False
    #: queue target → who needs it ("the default handoff target", "campaign 3")
    queues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _prompts(config: CampaignConfig) -> list[str]:
    sounds = [config.message, config.amd.voicemail_message]
    if config.ivr is not None:
        sounds += [config.ivr.invalid_message, config.ivr.opt_out_message]
    return [s for s in sounds if s]


def _uses_urls(config: CampaignConfig) -> bool:
    return any(s.lower().startswith(_URL_PREFIXES) for s in _prompts(config))


def _add(queues: dict[str, tuple[str, ...]], target: str, who: str) -> None:
    if who not in queues.get(target, ()):
        queues[target] = (*queues.get(target, ()), who)


def node_needs(campaigns: Iterable[tuple[int, CampaignConfig]]) -> Needs:
    """Everything the flow can use, and the queues of the given campaigns plus the default."""
    queues: dict[str, tuple[str, ...]] = {DEFAULT_QUEUE: ("the default handoff target",)}
    urls = False
    for campaign_id, config in campaigns:
        for queue in config.queues.values():
            _add(queues, queue.target, f"campaign {campaign_id}")
        urls = urls or _uses_urls(config)
    return Needs(scope="every campaign", url_prompts=urls, queues=queues)


def campaign_needs(campaign_id: int, config: CampaignConfig) -> Needs:
    """Only what this campaign's calls use."""
    queues: dict[str, tuple[str, ...]] = {}
    for queue in config.queues.values():
        _add(queues, queue.target, f"campaign {campaign_id}")
    amd = config.amd.enabled
    return Needs(
        scope=f"campaign {campaign_id}",
        callcenter=bool(queues),
        avmd=amd and config.amd.on_machine is OnMachine.VOICEMAIL,
        amd=amd,
        url_prompts=_uses_urls(config),
        queues=queues,
    )
