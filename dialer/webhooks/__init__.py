"""campaign.* webhooks: the endpoints a customer registers (``endpoints``); the outbox
(``outbox``), its delivery (``delivery``) and the delivery log (``log``)."""

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
