"""campaign.* webhooks: the endpoints a customer registers (``endpoints``); delivery from the
outbox comes with the lifecycle's webhooks."""

from dialer.webhooks.endpoints import (
    EVENT_NAMES,
    EndpointInfo,
    NewEndpoint,
    WebhookError,
    add_endpoint,
    list_endpoints,
    remove_endpoint,
)

__all__ = [
    "EVENT_NAMES",
    "EndpointInfo",
    "NewEndpoint",
    "WebhookError",
    "add_endpoint",
    "list_endpoints",
    "remove_endpoint",
]
