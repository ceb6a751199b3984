"""Campaigns: the model, calling hours, lifecycle."""

from dialer.campaigns.files import CampaignFileError, load_campaign_file
from dialer.campaigns.model import CampaignConfig, CampaignConfigError, CampaignType, parse_config
from dialer.campaigns.service import (
    CampaignError,
    CampaignInfo,
    CampaignNotFoundError,
    CampaignStateError,
    CancelResult,
    ListRef,
    StartResult,
    cancel_campaign,
    complete_if_done,
    create_campaign,
    get_campaign,
    list_campaigns,
    pause_campaign,
    resume_campaign,
    start_campaign,
)
from dialer.campaigns.status import CampaignStatus, campaign_status, wait_for_campaign

__all__ = [
    "CampaignConfig",
    "CampaignConfigError",
    "CampaignError",
    "CampaignFileError",
    "CampaignInfo",
    "CampaignNotFoundError",
    "CampaignStateError",
    "CampaignStatus",
    "CampaignType",
    "CancelResult",
    "ListRef",
    "StartResult",
    "campaign_status",
    "cancel_campaign",
    "complete_if_done",
    "create_campaign",
    "get_campaign",
    "list_campaigns",
    "load_campaign_file",
    "parse_config",
    "pause_campaign",
    "resume_campaign",
    "start_campaign",
    "wait_for_campaign",
]
