"""One originate: lease → claim → ``bgapi originate``, with the two guarantees (DESIGN §6).

Order matters:

1. **Lease first**, keyed by the attempt id, in every scope at once (campaign, trunk, node,
   global) plus a token from each cps bucket. No lease, no call: the attempt goes back to the
   scheduler (``dispatched_at = NULL``, ``not_before``), never into a retry loop here. Only a
   missing cps token that comes within ``token_wait`` seconds is waited for, so that calls
   keep the configured rate instead of bouncing through the scheduler's tick.
2. **Claim** with a compare-and-set committed before anything is sent
   (``queued → originating``). A duplicated or redelivered task finds the attempt past
   ``queued`` and stops: FreeSWITCH does not refuse a duplicate ``origination_uuid``, so the
   database is the only safety net.
3. **Send** ``bgapi originate`` with Job-UUID = origination_uuid = the attempt id. The task
   returns as soon as the switch has accepted the job; the result (``+OK`` on answer,
   ``-ERR CAUSE`` otherwise) is handled by a callback here *and* by the node's consumer,
   whichever finalises first wins — so a worker killed mid-ring loses nothing.

If sending fails with proof that nothing was written (not connected), the claim is undone;
any other failure leaves the attempt ``originating`` for the consumer and the sweeper to
reconcile with the node. Never a second originate.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer import metrics
from dialer.attempts import finalise_attempt, mark_attempt
from dialer.campaigns.model import CampaignConfig
from dialer.clock import Clock, get_clock
from dialer.config import ConfigError, Settings
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient
from dialer.esl.errors import ESLError, NotConnectedError
from dialer.esl.events import Event
from dialer.esl.jobs import Job
from dialer.esl.originate import DialTemplate, build_originate
from dialer.fs_nodes import NodeConfig
from dialer.leases import LeaseBackend, Rejected
from dialer.originate.pool import NodePool
from dialer.originate.rebuild import rebuild_leases
from dialer.originate.scopes import answered_ttl, call_limits, ringing_ttl
from dialer.outcomes import error_cause, outcome_for_unanswered

log = logging.getLogger("dialer.originate")

#: Campaign statuses in which a queued attempt may be sent.
SENDABLE = ("running",)
#: How long a refused attempt waits before the scheduler hands it out again.
DEFER_SECONDS = 0.5
NO_NODE_DEFER_SECONDS = 2.0


def default_worker_id() -> str:
    return f"worker@{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class OriginateOutcome:
    attempt_id: str
    #: sent | error | deferred | duplicate | cancelled | missing | unknown
    result: str
    detail: str = ""
    node: str | None = None


@dataclass(frozen=True)
class _Loaded:
    attempt: CallAttempt
    campaign_status: str | None
    config: CampaignConfig | None


class Originator:
    """Sends the originate of one attempt; safe to call concurrently from many greenlets."""

    def __init__(
        self,
        engine: Engine,
        leases: LeaseBackend,
        pool: NodePool,
        settings: Settings,
        *,
        clock: Clock | None = None,
        worker_id: str | None = None,
        token_wait: float = 1.0,
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.leases = leases
        self.pool = pool
        self.settings = settings
        self.clock = clock or get_clock()
        self.worker_id = worker_id or default_worker_id()
        self.token_wait = token_wait
        self._on_result = on_result
        self._configs: dict[int, CampaignConfig] = {}

    # -- the task ----------------------------------------------------------------------------

    def originate(self, attempt_id: str) -> OriginateOutcome:
        loaded = self._load(attempt_id)
        if loaded is None:
            return self._done(OriginateOutcome(attempt_id, "missing", "no such attempt"))
        attempt = loaded.attempt
        if attempt.state != "queued":
            # a redelivered or duplicated task: never a second originate
            return self._done(OriginateOutcome(attempt_id, "duplicate", attempt.state))
        if attempt.campaign_id is not None:
            if loaded.campaign_status == "cancelled":
                self._cancel(attempt)
                return self._done(OriginateOutcome(attempt_id, "cancelled"))
            if loaded.campaign_status not in SENDABLE:
                self._defer(attempt_id, 0.0)
                return self._done(
                    OriginateOutcome(attempt_id, "deferred", f"campaign {loaded.campaign_status}")
                )
        try:
            trunk = self.settings.trunk(attempt.trunk or "default")
        except ConfigError as exc:
            self._finalise(attempt_id, "failed", None, error=str(exc))
            return self._done(OriginateOutcome(attempt_id, "error", str(exc)))

        node = self._pick_node()
        if node is None:
            self._defer(attempt_id, NO_NODE_DEFER_SECONDS)
            return self._done(OriginateOutcome(attempt_id, "deferred", "no node connected"))

        limits = call_limits(
            campaign_id=attempt.campaign_id, config=loaded.config, trunk=trunk, node=node
        )
        ring_timeout = int(attempt.options.get("ring_timeout", 30))
        rejected = self._acquire(attempt_id, limits, ringing_ttl(ring_timeout))
        if rejected is not None:
            metrics.LEASE_REJECTIONS.labels(scope=rejected.scope or rejected.reason).inc()
            self._defer(attempt_id, max(DEFER_SECONDS, rejected.retry_after))
            return self._done(
                OriginateOutcome(
                    attempt_id, "deferred", f"{rejected.reason}:{rejected.scope}", node.name
                )
            )

        if not self._claim(attempt_id, node.name):
            # someone else claimed it between our read and our write; the lease is the
            # attempt's, so leave it unless the attempt is already over
            if self._state(attempt_id) not in ("originating", "ringing", "answered"):
                self.leases.release(attempt_id)
            return self._done(OriginateOutcome(attempt_id, "duplicate", "lost the claim"))

        return self._send(attempt, node, trunk.dial, ring_timeout)

    # -- steps -------------------------------------------------------------------------------

    def _load(self, attempt_id: str) -> _Loaded | None:
        try:
            key = uuid.UUID(attempt_id)
        except ValueError:
            return None
        with Session(self.engine) as session:
            attempt = session.get(CallAttempt, key)
            if attempt is None:
                return None
            status: str | None = None
            config: CampaignConfig | None = None
            if attempt.campaign_id is not None:
                campaign = session.get_one(Campaign, attempt.campaign_id)
                status = campaign.status
                config = self._configs.get(campaign.id)
                if config is None:
                    config = CampaignConfig.model_validate(campaign.config)
                    self._configs[campaign.id] = config
            session.expunge(attempt)
            return _Loaded(attempt, status, config)

    def _pick_node(self) -> NodeConfig | None:
        """The connected node with the most free channels."""
        connected = self.pool.connected()
        if len(connected) <= 1:  # nothing to choose between: no lease count to ask for
            return connected[0] if connected else None
        now = self.clock.time()
        best: tuple[int, NodeConfig] | None = None
        for node in connected:
            free = node.max_channels - self.leases.count(f"node:{node.name}", now)
            if best is None or free > best[0]:
                best = (free, node)
        return best[1] if best else None

    def _acquire(self, attempt_id: str, limits: Any, ttl: float) -> Rejected | None:
        deadline = time.monotonic() + self.token_wait
        rebuilt = False
        while True:
            result = self.leases.acquire(
                attempt_id, limits.scopes, ttl, self.clock.time(), limits.buckets
            )
            if not isinstance(result, Rejected):
                return None
            if result.reason == "lost_state" and not rebuilt:
                # Redis restarted with no persistence: rebuild from the record of truth
                # before anyone is admitted, then try once more
                count = rebuild_leases(self.engine, self.leases, self.settings, self.clock)
                log.warning("leases lost; rebuilt %d from the database", count)
                rebuilt = True
                continue
            wait = self.clock.real_seconds(result.retry_after)
            if result.reason == "rate" and time.monotonic() + wait <= deadline:
                time.sleep(max(wait, 0.001))
                continue
            return result

    def _claim(self, attempt_id: str, node: str) -> bool:
        now = self.clock.now()
        with Session(self.engine) as session, session.begin():
            done = session.execute(
                sa.update(CallAttempt)
                .where(CallAttempt.id == uuid.UUID(attempt_id), CallAttempt.state == "queued")
                .values(
                    state="originating",
                    state_changed_at=now,
                    claimed_by=self.worker_id,
                    claimed_at=now,
                    fs_node=node,
                    originate_sent_at=now,
                )
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    def _unclaim(self, attempt_id: str) -> None:
        """Undo a claim whose originate provably never left this process."""
        now = self.clock.now()
        with Session(self.engine) as session, session.begin():
            session.execute(
                sa.update(CallAttempt)
                .where(
                    CallAttempt.id == uuid.UUID(attempt_id),
                    CallAttempt.state == "originating",
                    CallAttempt.claimed_by == self.worker_id,
                )
                .values(
                    state="queued",
                    state_changed_at=now,
                    fs_node=None,
                    originate_sent_at=None,
                    dispatched_at=None,
                    not_before=now + timedelta(seconds=NO_NODE_DEFER_SECONDS),
                )
            )
        self.leases.release(attempt_id)

    def _send(
        self, attempt: CallAttempt, node: NodeConfig, dial: str, ring_timeout: int
    ) -> OriginateOutcome:
        attempt_id = str(attempt.id)
        variables = {
            "dialer_attempt_id": attempt_id,
            **{k: str(v) for k, v in attempt.options.get("variables", {}).items()},
        }
        if attempt.campaign_id is not None:
            variables.setdefault("dialer_campaign_id", str(attempt.campaign_id))
        try:
            request = build_originate(
                attempt_id=attempt_id,
                number=attempt.to_number,
                template=DialTemplate(dial),
                caller_id_number=attempt.caller_id_number or "",
                caller_id_name=attempt.caller_id_name or "",
                timeout_seconds=ring_timeout,
                variables=variables,
            )
        except ValueError as exc:  # a number or caller id the dial string cannot carry
            self._finalise(attempt_id, "invalid_number", None, error=str(exc))
            metrics.ORIGINATE_REQUESTS.labels(node=node.name, result="refused").inc()
            return self._done(OriginateOutcome(attempt_id, "error", str(exc), node.name))

        sent_at = time.monotonic()
        try:
            job = self.pool.client(node.name).originate(request)
        except NotConnectedError as exc:
            self._unclaim(attempt_id)
            metrics.ORIGINATE_REQUESTS.labels(node=node.name, result="not_connected").inc()
            return self._done(OriginateOutcome(attempt_id, "deferred", str(exc), node.name))
        except ESLError as exc:
            # it may have reached the switch: the consumer and the sweeper reconcile
            metrics.ORIGINATE_REQUESTS.labels(node=node.name, result="unknown").inc()
            log.warning("originate %s on %s: outcome unknown: %s", attempt_id, node.name, exc)
            return self._done(OriginateOutcome(attempt_id, "unknown", str(exc), node.name))
        talk = float(attempt.options.get("max_duration", 300))
        job.add_done_callback(lambda done: self._job_done(done, node.name, sent_at, talk))
        return self._done(OriginateOutcome(attempt_id, "sent", "", node.name))

    def _job_done(self, job: Job, node: str, sent_at: float, talk: float) -> None:
        attempt_id = job.job_uuid
        error = job.exception()
        if error is not None:
            metrics.ORIGINATE_REQUESTS.labels(node=node, result="lost").inc()
            return  # timed out or connection lost: the consumer saw it, or the sweeper will
        metrics.ORIGINATE_LATENCY.labels(node=node).observe(time.monotonic() - sent_at)
        result = job.result(0)
        if result.ok:
            metrics.ORIGINATE_REQUESTS.labels(node=node, result="ok").inc()
            try:
                self._answered(attempt_id, result.event, talk)
            except Exception:  # the consumer records the answer from CHANNEL_ANSWER too
                log.exception("recording the answer of %s", attempt_id)
            return
        cause = error_cause(result.body)
        metrics.ORIGINATE_REQUESTS.labels(node=node, result="error").inc()
        try:
            self._finalise(attempt_id, outcome_for_unanswered(cause), cause)
        except Exception:  # the consumer finalises from the same BACKGROUND_JOB
            log.exception("finalising %s after -ERR %s", attempt_id, cause)

    def _answered(self, attempt_id: str, event: Event | None, talk: float) -> None:
        """An originate answers ``+OK`` only once the callee answered: record it, so that a
        consumer that was away when CHANNEL_ANSWER came still knows the call was answered
        (never ``failed``, which would be retried), and hold the lease for the talk time."""
        stamp = event.get("Event-Date-Timestamp") if event is not None else None
        at = self.clock.now()
        if stamp and stamp.isdigit():
            at = datetime.fromtimestamp(int(stamp) / 1_000_000, UTC)
        with Session(self.engine) as session, session.begin():
            moved = mark_attempt(
                session, attempt_id, "answered", by=self.worker_id, at=self.clock.now(),
                answered_at=at,
            )  # fmt: skip
        if moved:
            self.leases.extend(attempt_id, answered_ttl(talk), self.clock.time())

    def _finalise(
        self, attempt_id: str, outcome: str, cause: str | None, *, error: str | None = None
    ) -> None:
        with Session(self.engine) as session, session.begin():
            finalise_attempt(
                session,
                uuid.UUID(attempt_id),
                outcome=outcome,
                hangup_cause=cause,
                ended_at=self.clock.now(),
                by=self.worker_id,
                error=error,
                leases=self.leases,
                clock=self.clock,
            )

    def _defer(self, attempt_id: str, seconds: float) -> None:
        """Back to the scheduler: it dispatches the attempt again after ``seconds``."""
        now = self.clock.now()
        with Session(self.engine) as session, session.begin():
            session.execute(
                sa.update(CallAttempt)
                .where(CallAttempt.id == uuid.UUID(attempt_id), CallAttempt.state == "queued")
                .values(dispatched_at=None, not_before=now + timedelta(seconds=seconds))
            )

    def _cancel(self, attempt: CallAttempt) -> None:
        now = self.clock.now()
        with Session(self.engine) as session, session.begin():
            done = session.execute(
                sa.update(CallAttempt)
                .where(CallAttempt.id == attempt.id, CallAttempt.state == "queued")
                .values(state="cancelled", state_changed_at=now, claimed_by=self.worker_id)
            )
            if done.rowcount == 1 and attempt.campaign_recipient_id is not None:  # type: ignore[attr-defined]
                session.execute(
                    sa.update(CampaignRecipient)
                    .where(
                        CampaignRecipient.id == attempt.campaign_recipient_id,
                        CampaignRecipient.status == "active",
                    )
                    .values(status="cancelled", updated_at=now)
                )

    def _state(self, attempt_id: str) -> str | None:
        with Session(self.engine) as session:
            return session.scalar(
                sa.select(CallAttempt.state).where(CallAttempt.id == uuid.UUID(attempt_id))
            )

    def _done(self, outcome: OriginateOutcome) -> OriginateOutcome:
        log.info(
            "originate attempt=%s result=%s node=%s %s",
            outcome.attempt_id,
            outcome.result,
            outcome.node or "-",
            outcome.detail,
        )
        if self._on_result is not None:
            self._on_result(outcome.attempt_id, outcome.result)
        return outcome

