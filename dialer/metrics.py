"""Every Prometheus metric of the dialer, defined once (DESIGN §11).

Labels are low-cardinality by rule: a node name, an event name, a result — never a phone
number or a uuid. Processes expose them with ``prometheus_client``'s HTTP server; tests read
them from the default registry.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ESL_CONNECTED = Gauge(
    "dialer_esl_connected",
    "1 while the Event Socket connection to the node is up and subscribed, else 0.",
    ["node"],
)
ESL_EVENTS = Counter(
    "dialer_esl_events_total",
    "Events received from the node, by event name (a CUSTOM event by its subclass).",
    ["node", "event"],
)
ESL_RECONNECTS = Counter(
    "dialer_esl_reconnects_total",
    "Connections to the node lost and replaced (not counting the first connect).",
    ["node"],
)
ESL_COMMAND_TIMEOUTS = Counter(
    "dialer_esl_command_timeouts_total",
    "Commands whose reply did not come within their timeout (the reply is discarded).",
    ["node"],
)
ESL_JOBS_PENDING = Gauge(
    "dialer_esl_jobs_pending",
    "bgapi jobs waiting for their BACKGROUND_JOB on the node's current connection.",
    ["node"],
)
