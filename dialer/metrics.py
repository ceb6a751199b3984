"""Every Prometheus metric of the dialer, defined once (DESIGN §11).

Labels are low-cardinality by rule: a node name, an event name, a result — never a phone
number or a uuid. Processes expose them with ``prometheus_client``'s HTTP server; tests read
them from the default registry.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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

# -- call lifecycle (dialer.attempts, dialer.consumer) --------------------------------------

CALL_ATTEMPTS = Counter(
    "dialer_call_attempts_total",
    "Attempts ended, by campaign id (\"single\" for a call outside any campaign) and outcome.",
    ["campaign", "outcome"],
)
HANGUPS = Counter(
    "dialer_hangups_total",
    "Attempts ended, by FreeSWITCH hangup cause (or -ERR cause of the originate).",
    ["cause"],
)
AMD_RESULTS = Counter(
    "dialer_amd_results_total",
    "Answered attempts ended, by AMD result (human, machine, unknown_assumed_human).",
    ["result"],
)
AMD_DECISION = Histogram(
    "dialer_amd_decision_seconds",
    "How long AMD took to decide, from the start of the analysis (the flow's amd_ms).",
    buckets=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0),
)
IVR_RESULTS = Counter(
    "dialer_ivr_results_total",
    "Attempts ended after the IVR, by its result (digit_pressed, invalid, timeout, "
    "caller_hangup).",
    ["result"],
)
QUEUE_WAIT = Histogram(
    "dialer_queue_wait_seconds",
    "Time a call waited in the queue, from joining it to an agent (or to leaving it).",
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0),
)
CALLS_ACTIVE = Gauge(
    "dialer_calls_active",
    "Calls up on a node (ringing or answered), as the node's consumer sees them.",
    ["campaign", "node"],
)
EVENT_LAG = Histogram(
    "dialer_event_lag_seconds",
    "Consumer clock minus the event's Event-Date-Timestamp, when the event is handled.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CONSUMER_BATCH_SECONDS = Histogram(
    "dialer_consumer_batch_seconds",
    "Time to persist one batch of events (one transaction), retries included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
CONSUMER_EVENTS_UNMATCHED = Counter(
    "dialer_consumer_events_unmatched_total",
    "Events that named a dialer attempt the database never had (dropped after a grace).",
    ["node"],
)

# -- originate workers -------------------------------------------------------------------------

ORIGINATE_REQUESTS = Counter(
    "dialer_originate_requests_total",
    "Originates by node and result: ok (answered), error (-ERR from the switch), refused (a "
    "number the dial string cannot carry), not_connected (claim undone), unknown (may have "
    "reached the switch), lost (no result before the job's time to live).",
    ["node", "result"],
)
ORIGINATE_LATENCY = Histogram(
    "dialer_originate_latency_seconds",
    "From bgapi originate to its BACKGROUND_JOB (the ring, for answered calls).",
    ["node"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 120),
)
LEASE_REJECTIONS = Counter(
    "dialer_lease_rejections_total",
    "Originates refused a lease or a cps token, by the scope that said no (campaign, trunk, "
    "node, global; lost_state when the lease store had to be rebuilt).",
    ["scope"],
)
CHANNEL_LIMIT = Gauge(
    "dialer_channel_limit",
    "Configured concurrent-call limit per scope kind and name.",
    ["scope", "name"],
)
ORIGINATE_TASKS = Counter(
    "dialer_originate_tasks_total",
    "Originate tasks handled, by what they did: sent, error, deferred (back to the "
    "scheduler), duplicate (already claimed: nothing sent), cancelled, missing, unknown.",
    ["result"],
)
SWEEPER_REPAIRS = Counter(
    "dialer_sweeper_repairs_total",
    "What the sweeper repaired: orphan_lease, stuck_originating, stuck_ringing, stuck_answered.",
    ["kind"],
)

# -- scheduler (dialer.scheduler) -------------------------------------------------------------
RECIPIENTS_PENDING = Gauge(
    "dialer_recipients_pending",
    "Recipients still pending in a running campaign (refreshed at most every 15 s).",
    ["campaign"],
)
RECIPIENTS_BLOCKED = Counter(
    "dialer_recipients_blocked_total",
    "Recipients the scheduler held back or skipped at admission, by reason "
    "(dnc, unknown_zone, no_window, after_end, outside_window).",
    ["reason"],
)
SCHEDULER_TICK_SECONDS = Histogram(
    "dialer_scheduler_tick_seconds",
    "Wall seconds one scheduler tick took.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SCHEDULER_ADMITTED = Counter(
    "dialer_scheduler_admitted_total",
    "Call attempts the scheduler queued, by campaign id.",
    ["campaign"],
)
LEASES_HELD = Gauge(
    "dialer_leases_held",
    "Channel leases held per scope (campaign id, trunk, node), as the scheduler last counted.",
    ["scope", "name"],
)

# -- webhooks (dialer.webhooks.delivery) ------------------------------------------------------
WEBHOOK_DELIVERIES = Counter(
    "dialer_webhook_deliveries_total",
    "Webhook tries by result: delivered (2xx), failed (to be retried), dead (dead-lettered "
    "after the retry window), gone (410: the endpoint was disabled).",
    ["result"],
)
WEBHOOK_BACKLOG = Gauge(
    "dialer_webhook_backlog",
    "Webhook events waiting to be delivered (pending), as the deliverer last counted.",
)
WEBHOOK_OLDEST_PENDING = Gauge(
    "dialer_webhook_oldest_pending_seconds",
    "Age of the oldest webhook event still pending, as the deliverer last counted.",
)
WEBHOOK_LATENCY = Histogram(
    "dialer_webhook_delivery_seconds",
    "Seconds a receiver took to answer one try (timeouts count as the timeout).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
