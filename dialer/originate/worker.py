"""Originates: lease → claim → ``bgapi originate``, with the two guarantees (DESIGN §6).

A Celery message carries a batch of attempt ids; the batch shares its round trips (one read,
one pipelined lease call, one claim per cps slot group) while every attempt keeps its own
guarantees. Order matters:

1. **Lease first**, keyed by the attempt id, in every scope at once (campaign, trunk, node,
   global) plus a token from each cps bucket. No lease, no call: the attempt goes back to the
   scheduler (``dispatched_at = NULL``, ``not_before``), never into a retry loop here. A cps
   token due within ``token_wait`` seconds is reserved (the lease says when it is due) and
   the call waits for its slot here, so that calls keep the configured rate, evenly spaced,
   instead of bouncing through the scheduler's tick.
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
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import gevent
import gevent.event
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer import metrics
from dialer.attempts import finalise_attempt
from dialer.campaigns.model import CampaignConfig
from dialer.clock import Clock, clock_seconds, get_clock
from dialer.config import ConfigError, Settings
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, Recipient
from dialer.esl.errors import ESLError, NotConnectedError
from dialer.esl.events import Event
from dialer.esl.jobs import Job
from dialer.esl.originate import DialTemplate, build_originate
from dialer.flow import contract as flow_contract
from dialer.flow.variables import flow_variables
from dialer.fs_nodes import NodeConfig
from dialer.leases import Granted, LeaseBackend, LeaseRequest, Rejected
from dialer.originate.pool import NodePool
from dialer.originate.rebuild import rebuild_leases
from dialer.originate.scopes import answered_ttl, call_limits, ringing_ttl
from dialer.outcomes import error_cause, outcome_for_unanswered
from dialer.trunks import TrunkConfig

log = logging.getLogger("dialer.originate")

#: Campaign statuses in which a queued attempt may be sent.
SENDABLE = ("running",)
#: How long a refused attempt waits before the scheduler hands it out again.
DEFER_SECONDS = 0.5
NO_NODE_DEFER_SECONDS = 2.0
#: Calls of a batch whose cps slots fall within this many seconds are claimed together.
SLOT_GROUP_SECONDS = 0.02
#: Attempt ids per originate batch at most (one Celery message in the distributed mode).
ORIGINATE_BATCH = 40


def batches(attempt_ids: Sequence[str], size: int = ORIGINATE_BATCH) -> list[list[str]]:
    """``attempt_ids`` in as few batches of at most ``size`` as possible, of even sizes (so
    that the workers share a round's calls rather than one taking a full batch)."""
    ids = list(attempt_ids)
    if not ids:
        return []
    parts = math.ceil(len(ids) / size)
    step = math.ceil(len(ids) / parts)
    return [ids[start : start + step] for start in range(0, len(ids), step)]


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
class _Attempt:
    """What a worker reads of an attempt (one query for a whole batch)."""

    id: str
    state: str
    campaign_id: int | None
    campaign_recipient_id: int | None
    trunk: str | None
    options: dict[str, Any]
    to_number: str
    caller_id_number: str | None
    caller_id_name: str | None
    campaign_status: str | None
    config: CampaignConfig | None
    #: the contact (``recipients.id``) and its custom fields, for the flow's X- headers
    recipient_id: int | None = None
    fields: dict[str, Any] | None = None

    @property
    def ring_timeout(self) -> int:
        return int(self.options.get("ring_timeout", 30))


_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)
_LINKS = cast(sa.Table, CampaignRecipient.__table__)
_RECIPIENTS = cast(sa.Table, Recipient.__table__)
#: Ids per IN (...) list: well under SQLite's bound parameter limit.
_CHUNK = 500


class Originator:
    """Sends the originates of attempts; safe to call concurrently from many greenlets.

    :meth:`originate_many` takes a batch (one Celery message carries several ids): one query
    reads them, one pipelined round trip takes their leases, one compare-and-set claims
    them, and the answers of their jobs are recorded in batches (:class:`_Results`). Each
    attempt keeps its own guarantees; only the round trips are shared.
    """

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
        self._configs: dict[int, tuple[datetime | None, CampaignConfig]] = {}
        self._results = _Results(self)

    # -- the task ----------------------------------------------------------------------------

    def originate(self, attempt_id: str) -> OriginateOutcome:
        return self.originate_many([attempt_id])[0]

    def originate_many(self, attempt_ids: Sequence[str]) -> list[OriginateOutcome]:
        """Originate every attempt of the batch that may be; one outcome per id, in order."""
        outcomes: dict[str, OriginateOutcome] = {}
        ids = list(dict.fromkeys(attempt_ids))  # an id twice in one batch is sent once
        loaded = self._load(ids)
        ready: list[tuple[_Attempt, TrunkConfig]] = []
        for attempt_id in ids:
            attempt = loaded.get(attempt_id)
            if attempt is None:
                outcomes[attempt_id] = self._done(
                    OriginateOutcome(attempt_id, "missing", "no such attempt")
                )
                continue
            if attempt.state != "queued":
                # a redelivered or duplicated task: never a second originate
                outcomes[attempt_id] = self._done(
                    OriginateOutcome(attempt_id, "duplicate", attempt.state)
                )
                continue
            if attempt.campaign_id is not None and attempt.campaign_status != "running":
                outcomes[attempt_id] = self._not_running(attempt)
                continue
            try:
                trunk = self.settings.trunk(attempt.trunk or "default")
            except ConfigError as exc:
                self._finalise(attempt_id, "failed", None, error=str(exc))
                outcomes[attempt_id] = self._done(OriginateOutcome(attempt_id, "error", str(exc)))
                continue
            ready.append((attempt, trunk))
        if ready:
            node = self._pick_node()
            if node is None:
                self._defer({a.id: NO_NODE_DEFER_SECONDS for a, _ in ready})
                for attempt, _ in ready:
                    outcomes[attempt.id] = self._done(
                        OriginateOutcome(attempt.id, "deferred", "no node connected")
                    )
            else:
                outcomes.update(self._lease_claim_send(ready, node))
        sent = [o for o in outcomes.values() if o.result == "sent"]
        if sent:
            log.info(
                "originate sent=%d of=%d node=%s attempts=%s",
                len(sent), len(ids), sent[0].node, ",".join(o.attempt_id for o in sent),
            )  # fmt: skip
        return [outcomes[attempt_id] for attempt_id in attempt_ids]

    def _not_running(self, attempt: _Attempt) -> OriginateOutcome:
        if attempt.campaign_status == "cancelled":
            self._cancel(attempt)
            return self._done(OriginateOutcome(attempt.id, "cancelled"))
        self._defer({attempt.id: 0.0})
        return self._done(
            OriginateOutcome(attempt.id, "deferred", f"campaign {attempt.campaign_status}")
        )

    # -- steps -------------------------------------------------------------------------------

    def _load(self, ids: Sequence[str]) -> dict[str, _Attempt]:
        keys: list[uuid.UUID] = []
        for attempt_id in ids:
            try:
                keys.append(uuid.UUID(attempt_id))
            except ValueError:
                continue  # reported missing
        a, c, cr = _ATTEMPTS, _CAMPAIGNS, _LINKS
        found: dict[str, _Attempt] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), _CHUNK):
                rows = conn.execute(
                    sa.select(
                        a.c.id,
                        a.c.state,
                        a.c.campaign_id,
                        a.c.campaign_recipient_id,
                        a.c.trunk,
                        a.c.options,
                        a.c.to_number,
                        a.c.caller_id_number,
                        a.c.caller_id_name,
                        c.c.status,
                        c.c.updated_at,
                        cr.c.recipient_id,
                    )
                    .select_from(
                        a.outerjoin(c, c.c.id == a.c.campaign_id).outerjoin(
                            cr, cr.c.id == a.c.campaign_recipient_id
                        )
                    )
                    .where(a.c.id.in_(keys[start : start + _CHUNK]))
                ).all()
                configs = self._configs_of(
                    conn, {row.campaign_id: row.updated_at for row in rows if row.campaign_id}
                )
                fields = self._fields_of(conn, rows, configs)
                for row in rows:
                    found[str(row.id)] = _Attempt(
                        id=str(row.id),
                        state=row.state,
                        campaign_id=row.campaign_id,
                        campaign_recipient_id=row.campaign_recipient_id,
                        trunk=row.trunk,
                        options=dict(row.options or {}),
                        to_number=row.to_number,
                        caller_id_number=row.caller_id_number,
                        caller_id_name=row.caller_id_name,
                        campaign_status=row.status,
                        config=configs.get(row.campaign_id),
                        recipient_id=row.recipient_id,
                        fields=fields.get(row.recipient_id),
                    )
        return found

    def _configs_of(
        self, conn: sa.Connection, versions: dict[int, datetime | None]
    ) -> dict[int, CampaignConfig]:
        """Each campaign's parsed config, read and parsed again only when the campaign row
        changed since (``updated_at`` moves on every update): reading the JSON for every
        attempt of every batch showed in the workers' profile."""
        stale = [i for i, at in versions.items() if (self._configs.get(i) or (None,))[0] != at]
        if stale:
            rows = conn.execute(
                sa.select(_CAMPAIGNS.c.id, _CAMPAIGNS.c.config, _CAMPAIGNS.c.updated_at).where(
                    _CAMPAIGNS.c.id.in_(stale)
                )
            )
            for row in rows:
                self._configs[row.id] = (row.updated_at, CampaignConfig.model_validate(row.config))
        return {i: self._configs[i][1] for i in versions if i in self._configs}

    @staticmethod
    def _fields_of(
        conn: sa.Connection, rows: Sequence[Any], configs: dict[int, CampaignConfig]
    ) -> dict[int, dict[str, Any]]:
        """The custom fields of the recipients whose campaign sends some to an AI agent (X-
        headers); nobody else's are read."""
        wanted = {
            row.recipient_id
            for row in rows
            if row.recipient_id is not None
            and (config := configs.get(row.campaign_id)) is not None
            and any(agent.fields for agent in config.agents.values())
        }
        if not wanted:
            return {}
        found = conn.execute(
            sa.select(_RECIPIENTS.c.id, _RECIPIENTS.c.fields).where(
                _RECIPIENTS.c.id.in_(sorted(wanted))
            )
        )
        return {row.id: dict(row.fields or {}) for row in found}

    def _pick_node(self) -> NodeConfig | None:
        """The connected node with the most free channels."""
        connected = self.pool.connected()
        if len(connected) <= 1:  # nothing to choose between: no lease count to ask for
            return connected[0] if connected else None
        # every node's count in one round trip; a lost store counts nothing (the acquire
        # that follows says so and rebuilds): then any connected node will do
        counts = self.leases.count_many([f"node:{n.name}" for n in connected], self.clock.time())
        if counts is None:
            return connected[0]
        return max(zip(connected, counts, strict=True), key=lambda nc: nc[0].max_channels - nc[1])[
            0
        ]

    def _lease_claim_send(
        self, ready: list[tuple[_Attempt, TrunkConfig]], node: NodeConfig
    ) -> dict[str, OriginateOutcome]:
        """Lease the batch in one round trip, then claim and send each attempt when its cps
        slot is due. A slot may be reserved up to ``token_wait`` ahead, so one batch gets
        its calls spaced at the rate; one whose slot is later goes back to the scheduler."""
        outcomes: dict[str, OriginateOutcome] = {}
        wait = clock_seconds(self.clock, self.token_wait)
        requests: list[LeaseRequest] = []
        for attempt, trunk in ready:
            limits = call_limits(
                campaign_id=attempt.campaign_id, config=attempt.config, trunk=trunk, node=node
            )
            requests.append(
                LeaseRequest(
                    attempt.id,
                    limits.scopes,
                    ringing_ttl(attempt.ring_timeout),
                    limits.buckets,
                    wait=wait,
                )
            )
        results = self.leases.acquire_many(requests, self.clock.time())
        if any(isinstance(r, Rejected) and r.reason == "lost_state" for r in results):
            # Redis restarted with no persistence: rebuild from the record of truth before
            # anyone is admitted, then try once more
            count = rebuild_leases(self.engine, self.leases, self.settings, self.clock)
            log.warning("leases lost; rebuilt %d from the database", count)
            lost = [i for i, r in enumerate(results) if not isinstance(r, Granted)]
            again = self.leases.acquire_many([requests[i] for i in lost], self.clock.time())
            for i, result in zip(lost, again, strict=True):
                results[i] = result
        started = time.monotonic()
        slots: list[tuple[float, _Attempt, str]] = []
        refused: dict[str, Rejected] = {}
        for (attempt, trunk), result in zip(ready, results, strict=True):
            if isinstance(result, Granted):
                slots.append((self.clock.real_seconds(result.delay), attempt, trunk.dial))
                continue
            metrics.LEASE_REJECTIONS.labels(scope=result.scope or result.reason).inc()
            refused[attempt.id] = result
        if refused:
            self._defer({i: max(DEFER_SECONDS, r.retry_after) for i, r in refused.items()})
            for attempt_id, result in refused.items():
                outcomes[attempt_id] = self._done(
                    OriginateOutcome(
                        attempt_id, "deferred", f"{result.reason}:{result.scope}", node.name
                    )
                )
        slots.sort(key=lambda slot: slot[0])
        while slots:
            due = slots[0][0]
            # the calls due within one slot group are claimed together
            group = [slot for slot in slots if slot[0] <= due + SLOT_GROUP_SECONDS]
            slots = slots[len(group) :]
            pause = started + due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            outcomes.update(
                self._claim_and_send(
                    [attempt for _, attempt, _ in group],
                    node,
                    {attempt.id: dial for _, attempt, dial in group},
                )
            )
        return outcomes

    def _claim_and_send(
        self, granted: list[_Attempt], node: NodeConfig, dials: dict[str, str]
    ) -> dict[str, OriginateOutcome]:
        if not granted:
            return {}
        outcomes: dict[str, OriginateOutcome] = {}
        claimed = self._claim([a.id for a in granted], node.name)
        for attempt in granted:
            if attempt.id in claimed:
                outcomes[attempt.id] = self._send(attempt, node, dials[attempt.id])
                continue
            # someone else claimed it between our read and our write; the lease is the
            # attempt's, so leave it unless the attempt is already over
            if self._state(attempt.id) not in ("originating", "ringing", "answered"):
                self.leases.release(attempt.id)
            outcomes[attempt.id] = self._done(
                OriginateOutcome(attempt.id, "duplicate", "lost the claim")
            )
        return outcomes

    def _claim(self, attempt_ids: Sequence[str], node: str) -> set[str]:
        """queued → originating for those still queued, committed before anything is sent."""
        now = self.clock.now()
        keys = [uuid.UUID(i) for i in attempt_ids]
        won: set[str] = set()
        with self.engine.begin() as conn:
            for start in range(0, len(keys), _CHUNK):
                done = conn.execute(
                    sa.update(_ATTEMPTS)
                    .where(
                        _ATTEMPTS.c.id.in_(keys[start : start + _CHUNK]),
                        _ATTEMPTS.c.state == "queued",
                    )
                    .values(
                        state="originating",
                        state_changed_at=now,
                        claimed_by=self.worker_id,
                        claimed_at=now,
                        fs_node=node,
                        originate_sent_at=now,
                    )
                    .returning(_ATTEMPTS.c.id)
                )
                won.update(str(key) for key in done.scalars())
        return won

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

    def _send(self, attempt: _Attempt, node: NodeConfig, dial: str) -> OriginateOutcome:
        attempt_id = attempt.id
        # a campaign's call runs the shipped flow (DESIGN §7); a single call parks
        application = "&park"
        variables: dict[str, str] = {}
        try:
            if attempt.campaign_id is not None and attempt.config is not None:
                variables = flow_variables(
                    attempt.config,
                    campaign_id=attempt.campaign_id,
                    attempt_id=attempt_id,
                    recipient_id=attempt.recipient_id,
                    fields=attempt.fields,
                )
                application = flow_contract.APPLICATION
            variables.update(
                {k: str(v) for k, v in attempt.options.get("variables", {}).items()}
            )
            variables[flow_contract.ATTEMPT_ID] = attempt_id
            if attempt.campaign_id is not None:
                variables[flow_contract.CAMPAIGN_ID] = str(attempt.campaign_id)
            request = build_originate(
                attempt_id=attempt_id,
                number=attempt.to_number,
                template=DialTemplate(dial),
                caller_id_number=attempt.caller_id_number or "",
                caller_id_name=attempt.caller_id_name or "",
                timeout_seconds=attempt.ring_timeout,
                application=application,
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
            self._results.answered(attempt_id, result.event, talk)
            return
        metrics.ORIGINATE_REQUESTS.labels(node=node, result="error").inc()
        self._results.failed(attempt_id, error_cause(result.body))

    def _record_answers(self, answers: list[tuple[str, datetime, float]]) -> None:
        """An originate answers ``+OK`` only once the callee answered: record it, so that a
        consumer that was away when CHANNEL_ANSWER came still knows the call was answered
        (never ``failed``, which would be retried), and hold the lease for the talk time.
        One statement for the batch: the compare-and-set moves only attempts not yet
        answered or ended (whoever got there first, the consumer or us, wins)."""
        now = self.clock.now()
        a = _ATTEMPTS
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(a)
                .where(
                    a.c.id == sa.bindparam("b_id"),
                    # not IN (...): an expanding list cannot be executed many times
                    sa.or_(*(a.c.state == state for state in ("queued", "originating", "ringing"))),
                )
                .values(
                    state="answered",
                    state_changed_at=now,
                    claimed_by=self.worker_id,
                    answered_at=sa.bindparam("b_at"),
                ),
                # in id order, as the consumer locks its batches: no deadlock between them
                [
                    {"b_id": key, "b_at": at}
                    for key, at in sorted((uuid.UUID(i), at) for i, at, _ in answers)
                ],
            )
        # extending a lease that was released (the call already ended) does nothing
        by_ttl: dict[float, list[str]] = {}
        for attempt_id, _, talk in answers:
            by_ttl.setdefault(answered_ttl(talk), []).append(attempt_id)
        for ttl, ids in by_ttl.items():
            self.leases.extend_many(ids, ttl, self.clock.time())

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

    def _defer(self, waits: dict[str, float]) -> None:
        """Back to the scheduler: it dispatches each attempt again after its seconds."""
        now = self.clock.now()
        a = _ATTEMPTS
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(a)
                .where(a.c.id == sa.bindparam("b_id"), a.c.state == "queued")
                .values(dispatched_at=None, not_before=sa.bindparam("b_not_before")),
                [
                    {"b_id": key, "b_not_before": now + timedelta(seconds=seconds)}
                    for key, seconds in sorted((uuid.UUID(i), s) for i, s in waits.items())
                ],
            )

    def _cancel(self, attempt: _Attempt) -> None:
        now = self.clock.now()
        with Session(self.engine) as session, session.begin():
            done = session.execute(
                sa.update(CallAttempt)
                .where(CallAttempt.id == uuid.UUID(attempt.id), CallAttempt.state == "queued")
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
        # the calls sent are logged together, one line per batch (originate_many)
        log.log(
            logging.DEBUG if outcome.result == "sent" else logging.INFO,
            "originate attempt=%s result=%s node=%s %s",
            outcome.attempt_id,
            outcome.result,
            outcome.node or "-",
            outcome.detail,
        )
        if self._on_result is not None:
            self._on_result(outcome.attempt_id, outcome.result)
        return outcome


#: How long answers and errors of jobs wait to be written together (wall seconds).
RESULTS_FLUSH_SECONDS = 0.05
#: Written at once when this many are waiting.
RESULTS_FLUSH_SIZE = 200


class _Results:
    """The job results of one worker process, written in batches by one greenlet.

    A job's callback must not write to the database itself: hundreds finish per second, and
    one statement each is most of a worker's CPU. They are queued here and written every
    ``RESULTS_FLUSH_SECONDS``. A result lost with the process is not lost to the call: the
    consumer writes the same facts from the same events, and whoever is second changes
    nothing.
    """

    def __init__(self, originator: Originator) -> None:
        self._originator = originator
        self._answers: list[tuple[str, datetime, float]] = []
        self._errors: list[tuple[str, str]] = []
        self._wake = gevent.event.Event()
        self._writer: gevent.Greenlet[[], None] | None = None

    def answered(self, attempt_id: str, event: Event | None, talk: float) -> None:
        stamp = event.get("Event-Date-Timestamp") if event is not None else None
        at = self._originator.clock.now()
        if stamp and stamp.isdigit():
            at = datetime.fromtimestamp(int(stamp) / 1_000_000, UTC)
        self._answers.append((attempt_id, at, talk))
        self._kick()

    def failed(self, attempt_id: str, cause: str) -> None:
        self._errors.append((attempt_id, cause))
        self._kick()

    def flush(self) -> None:
        """Write what is waiting now (tests; the writer calls it on its own)."""
        answers, self._answers = self._answers, []
        errors, self._errors = self._errors, []
        if answers:
            try:
                self._originator._record_answers(answers)
            except Exception:  # the consumer records the answer from CHANNEL_ANSWER too
                log.exception("recording %d answers", len(answers))
        for attempt_id, cause in errors:
            try:
                self._originator._finalise(attempt_id, outcome_for_unanswered(cause), cause)
            except Exception:  # the consumer finalises from the same BACKGROUND_JOB
                log.exception("finalising %s after -ERR %s", attempt_id, cause)

    def _kick(self) -> None:
        if self._writer is None or self._writer.dead:
            self._writer = gevent.spawn(self._write_loop)
        if len(self._answers) + len(self._errors) >= RESULTS_FLUSH_SIZE:
            self._wake.set()

    def _write_loop(self) -> None:
        while self._answers or self._errors:
            self._wake.wait(RESULTS_FLUSH_SECONDS)
            self._wake.clear()
            self.flush()
