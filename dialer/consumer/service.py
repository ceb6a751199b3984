"""The event consumer of one FreeSWITCH node: a long-running gevent process (DESIGN §2).

- One ``ESLClient`` (``event json``) subscribed to only what the lifecycle needs. Its handler
  picks our events (an A leg: ``Unique-ID == variable_dialer_attempt_id``; an originate's
  BACKGROUND_JOB: ``Job-UUID`` = the attempt id; mod_callcenter's ``callcenter::info`` about a
  member: ``CC-Member-Session-UUID``, the A leg, which the database must know as an attempt)
  and appends them to an in-memory queue. It never touches the database: FreeSWITCH drops a
  listener that falls behind.
- A writer greenlet takes up to ``batch_size`` events or ``batch_wait`` seconds' worth and
  persists them in ONE transaction (:func:`dialer.consumer.store.persist_batch`). A failing
  batch is kept and retried with backoff; events of an attempt the database does not have
  (yet) wait ``unmatched_grace`` seconds for it before they are dropped and counted.
- After every (re)connect, ``show channels`` is compared with the attempts live on the node
  (:func:`dialer.consumer.store.reconcile_node`): what ended while nobody listened is ended.
  The reconcile goes through the same queue, after the events received before it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import gevent.queue
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from dialer import metrics
from dialer.clock import Clock, clock_seconds, get_clock
from dialer.consumer.store import (
    BatchResult,
    Incoming,
    ReconcileResult,
    persist_batch,
    reconcile_node,
)
from dialer.db.engine import session_factory
from dialer.esl.client import ConnectionState, ESLClient
from dialer.esl.events import Event
from dialer.fs_nodes import NodeConfig
from dialer.leases.backend import LeaseBackend

__all__ = [
    "CHANNEL_EVENTS",
    "CUSTOM_SUBCLASSES",
    "Consumer",
    "attempt_of",
    "parse_channels",
    "persist_batch",  # looked up here at each batch: the seam tests patch
    "reconcile_node",
    "run_consumer",
]

log = logging.getLogger("dialer.consumer")

#: What the lifecycle needs; the client adds BACKGROUND_JOB and HEARTBEAT itself.
CHANNEL_EVENTS = (
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP_COMPLETE",
)
JOB_EVENT = "BACKGROUND_JOB"
CALLCENTER_EVENT = "callcenter::info"
#: The callcenter actions the lifecycle reads (members-count, agent-offering…: not the call's).
CALLCENTER_ACTIONS = frozenset(
    {
        "member-queue-start",
        "bridge-agent-start",
        "bridge-agent-end",
        "bridge-agent-fail",
        "member-queue-end",
    }
)
#: The call flow's stage events, and mod_callcenter's about queue members and their agents.
CUSTOM_SUBCLASSES = (
    "dialer::amd",
    "dialer::ivr",
    "dialer::handoff",
    "dialer::voicemail",
    "dialer::opt_out",
    CALLCENTER_EVENT,
)

BATCH_SIZE = 500
#: A batch waits this long for more events: channels are freed at once (_release_soon), so
#: only the records wait, and bigger batches cost less per call.
BATCH_WAIT = 0.2
#: Hangups arriving within this many seconds free their leases in one round trip.
RELEASE_WAIT = 0.02
UNMATCHED_GRACE = 5.0
RECONCILE_MIN_AGE = 10.0
#: The soonest a reconcile looks again at attempts that were too young to judge (real s).
FOLLOWUP_MIN_DELAY = 0.2
RETRY_FIRST = 0.05
RETRY_CAP = 2.0
#: A batch failing with something other than a database outage is a bug: after this many
#: tries it is dropped (logged with its events' keys) so that it cannot block the node.
POISON_TRIES = 5
#: On stop, how long the writer keeps retrying a failing batch before giving up.
FLUSH_TIMEOUT = 10.0

_TRANSIENT = (OperationalError, DisconnectionError)


def attempt_of(event: Event) -> uuid.UUID | None:
    """The attempt an event belongs to, or None when it is not one of ours."""
    if event.name == JOB_EVENT:
        if event.get("Job-Command") != "originate":
            return None
        return _uuid(event.job_uuid)
    if event.key == CALLCENTER_EVENT:
        return _member_of(event)
    unique_id = event.unique_id
    if not unique_id or unique_id != event.variable("dialer_attempt_id"):
        return None  # another leg (the loopback B leg, a bridged agent) or not ours
    return _uuid(unique_id)


def _member_of(event: Event) -> uuid.UUID | None:
    """The A leg a callcenter::info event is about: its ``CC-Member-Session-UUID``. Member
    events carry the member's variables, agent events the agent leg's (which mod_callcenter
    gives our ids through ``cc_export_vars``); an id of someone else's call says it is not ours.
    Without one, the database decides (an unknown member waits, then is dropped and counted)."""
    if event.get("CC-Action") not in CALLCENTER_ACTIONS:
        return None
    member = event.get("CC-Member-Session-UUID")
    ours = event.variable("dialer_attempt_id")
    if not member or (ours is not None and ours != member):
        return None
    return _uuid(member)


def channel_gone(event: Event) -> bool:
    """The call has no channel any more: it hung up, or its originate failed."""
    if event.name == "CHANNEL_HANGUP_COMPLETE":
        return True
    return event.name == JOB_EVENT and event.body.lstrip().startswith("-ERR")


def _uuid(text: str | None) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def parse_channels(reply: str) -> set[str]:
    """The uuids in ``show channels as json`` (``{"row_count": 0}`` when there is none)."""
    data = json.loads(reply)
    rows = data.get("rows") or [] if isinstance(data, dict) else []
    return {str(row["uuid"]) for row in rows if isinstance(row, dict) and row.get("uuid")}


@dataclass(frozen=True)
class _Reconcile:
    channels: frozenset[str]


_STOP = object()


class Consumer:
    """The consumer of one node. ``start()``, then ``stop()`` (flushes what was received)."""

    def __init__(
        self,
        node: NodeConfig,
        engine: Engine,
        leases: LeaseBackend | None,
        *,
        clock: Clock | None = None,
        client: ESLClient | None = None,
        client_options: dict[str, Any] | None = None,
        batch_size: int = BATCH_SIZE,
        batch_wait: float = BATCH_WAIT,
        unmatched_grace: float = UNMATCHED_GRACE,
        reconcile_min_age: float = RECONCILE_MIN_AGE,
        retry_cap: float = RETRY_CAP,
    ) -> None:
        self.node = node
        self.name = node.name
        self.engine = engine
        self.leases = leases
        self.clock = clock or get_clock()
        self.client = client or node.client(event_format="json", **(client_options or {}))
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.unmatched_grace = unmatched_grace
        self.reconcile_min_age = reconcile_min_age
        self.retry_cap = retry_cap
        self._sessions = session_factory(engine)
        self._queue: gevent.queue.Queue[Any] = gevent.queue.Queue()
        self._unmatched: list[Incoming] = []
        self._fences: dict[str, frozenset[str]] = {}  # Job-UUID → the snapshot it fences
        self._active: dict[uuid.UUID, str] = {}
        self._gauge_labels: set[str] = set()
        self._writer: gevent.Greenlet[[], None] | None = None
        self._to_release: list[str] = []
        self._release_wake = gevent.event.Event()
        self._releaser: gevent.Greenlet[[], None] | None = None
        self._followup: gevent.Greenlet[[], None] | None = None
        self._stopping = False
        self._stop_deadline = float("inf")
        self._unmatched_counter = metrics.CONSUMER_EVENTS_UNMATCHED.labels(node=self.name)
        #: counters for tests and the log
        self.batches = 0
        self.stored = 0
        self.duplicates = 0
        self.dropped = 0
        self.reconciles = 0
        #: called with every committed BatchResult / ReconcileResult (tests, the future outbox)
        self.on_batch: Callable[[BatchResult], None] | None = None
        self.on_reconcile: Callable[[ReconcileResult], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Consumer:
        client = self.client
        client.subscribe(*CHANNEL_EVENTS, "CUSTOM", custom=CUSTOM_SUBCLASSES)
        for key in (*CHANNEL_EVENTS, JOB_EVENT, *CUSTOM_SUBCLASSES):
            client.on(key, self._on_event)
        client.add_state_callback(self._on_state)
        self._writer = gevent.spawn(self._write_loop)
        client.start()
        return self

    def stop(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Close the connection, persist everything received, stop the writer."""
        self._stopping = True
        self._stop_deadline = time.monotonic() + timeout
        self.client.close()
        if self._followup is not None:
            self._followup.kill(block=False)
        if self._releaser is not None:
            self._releaser.kill(block=False)
        if self._to_release and self.leases is not None:
            try:  # the writer's ends release them too; this is only sooner
                self.leases.release_many(self._to_release)
            except Exception as exc:
                log.warning("consumer early release on stop failed: %s", _one_line(exc))
        self._queue.put(_STOP)
        if self._writer is not None:
            self._writer.join(timeout=timeout + 1.0)
            if not self._writer.dead:
                log.error("consumer node=%s writer did not finish; killed", self.name)
                self._writer.kill(block=False)
        log.info(
            "consumer stopped node=%s batches=%d stored=%d duplicates=%d dropped=%d",
            self.name, self.batches, self.stored, self.duplicates, self.dropped,
        )  # fmt: skip

    @property
    def queued(self) -> int:
        return int(self._queue.qsize())

    # -- the ESL side (never blocks) -----------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if self._fences and event.name == JOB_EVENT:
            channels = self._fences.pop(event.job_uuid or "", None)
            if channels is not None:  # every event received before it is queued already
                self._queue.put(_Reconcile(channels))
                return
        attempt_id = attempt_of(event)
        if attempt_id is not None:
            self._queue.put(Incoming(attempt_id, event, time.monotonic()))
            if self.leases is not None and channel_gone(event):
                self._release_soon(attempt_id)

    def _on_state(self, state: ConnectionState, error: BaseException | None) -> None:
        if state is ConnectionState.CONNECTED:
            log.info("consumer connected node=%s connects=%d", self.name, self.client.connects)
            gevent.spawn(self._snapshot)
        elif state is ConnectionState.DISCONNECTED and error is not None:
            log.warning("consumer disconnected node=%s error=%s", self.name, error)

    def _snapshot(self) -> None:
        """Ask the switch what is up, then let the writer reconcile in turn.

        The api reply is read ahead of events that came before it (those wait for the
        dispatcher), so the snapshot is queued behind a fence: the BACKGROUND_JOB of a
        ``bgapi status`` sent after the reply. By the time the handler sees that job, every
        event received before the reply has been queued, and the writer persists them first.
        """
        if self._stopping:
            return
        fence = str(uuid.uuid4())
        try:
            reply = self.client.api("show channels as json")
            self._fences.clear()  # an older connection's fences will never come
            self._fences[fence] = frozenset(parse_channels(reply))
            self.client.bgapi("status", job_uuid=fence)
        except Exception as exc:  # lost again, or a reply we cannot read: the next connect
            self._fences.pop(fence, None)
            log.warning("consumer reconcile skipped node=%s error=%s", self.name, exc)

    # -- freeing channels at once ---------------------------------------------------------------

    def _release_soon(self, attempt_id: uuid.UUID) -> None:
        """The call's channel is gone: free its lease now rather than when its batch is
        stored, so that the scheduler refills the channel at once (the batch waits to grow;
        the limits count live channels, and this one is not). Releasing twice is harmless:
        the batch's end releases again."""
        self._to_release.append(str(attempt_id))
        if self._releaser is None or self._releaser.dead:
            self._releaser = gevent.spawn(self._release_loop)
        self._release_wake.set()

    def _release_loop(self) -> None:
        delay = RETRY_FIRST
        while self._to_release:
            self._release_wake.wait(RELEASE_WAIT)
            self._release_wake.clear()
            ids, self._to_release = self._to_release, []
            try:
                assert self.leases is not None
                self.leases.release_many(ids)
                delay = RETRY_FIRST
            except Exception as exc:  # Redis away: the batch's end releases them too
                log.warning(
                    "consumer early release failed node=%s leases=%d error=%s",
                    self.name, len(ids), _one_line(exc),
                )  # fmt: skip
                gevent.sleep(delay)
                delay = min(delay * 2, self.retry_cap)

    # -- the writer ----------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            items, marker = self._collect()
            if items or (marker is None and self._unmatched):
                self._persist(items)  # with the unmatched ones, for another look
            if isinstance(marker, _Reconcile):
                self._reconcile(marker)
            elif marker is _STOP:
                if self._unmatched:
                    self._persist([])  # one last look for their attempts
                if self._unmatched:
                    self._drop(self._unmatched, "stopping")
                    self._unmatched = []
                return

    def _collect(self) -> tuple[list[Incoming], object | None]:
        """Up to ``batch_size`` items within ``batch_wait`` of the first; stops at a marker."""
        items: list[Incoming] = []
        wait = min(0.25, self.unmatched_grace) if self._unmatched else None
        try:
            first = self._queue.get(timeout=wait)
        except gevent.queue.Empty:
            return items, None
        if not isinstance(first, Incoming):
            return items, first
        items.append(first)
        deadline = time.monotonic() + self.batch_wait
        while len(items) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    item = self._queue.get(timeout=remaining)
                else:
                    item = self._queue.get_nowait()
            except gevent.queue.Empty:
                break
            if not isinstance(item, Incoming):
                return items, item
            items.append(item)
        return items, None

    def _persist(self, items: list[Incoming]) -> None:
        batch = self._unmatched + items
        self._unmatched = []
        started = time.monotonic()
        result = self._with_retries("batch", lambda session: persist_batch(
            session, self.name, batch, leases=self.leases, clock=self.clock
        ), size=len(batch))
        metrics.CONSUMER_BATCH_SECONDS.observe(time.monotonic() - started)
        if result is None:
            self._drop(batch, "batch failed")
            return
        self.batches += 1
        self.stored += result.stored
        self.duplicates += result.duplicates
        now = self.clock.time()
        for ts in result.timestamps:
            metrics.EVENT_LAG.observe(max(0.0, now - ts.timestamp()))
        for attempt_id, label, active in result.activity:
            if active:
                self._active[attempt_id] = label
            else:
                self._active.pop(attempt_id, None)
        if result.activity:
            self._publish_active()
        cutoff = time.monotonic() - self.unmatched_grace
        waiting = [item for item in result.unmatched if item.received > cutoff]
        expired = [item for item in result.unmatched if item.received <= cutoff]
        if expired:
            self._drop(expired, "no such attempt")
        self._unmatched = waiting
        if self.on_batch is not None:
            self.on_batch(result)

    def _reconcile(self, marker: _Reconcile) -> None:
        result = self._with_retries("reconcile", lambda session: reconcile_node(
            session, self.name, marker.channels, leases=self.leases, clock=self.clock,
            # wall time: what a bgapi needs to become a channel does not shrink on a fast clock
            min_age=clock_seconds(self.clock, self.reconcile_min_age),
        ), size=len(marker.channels))
        if result is None:
            return
        self.reconciles += 1
        self._active = dict(result.active)
        self._publish_active()
        log.info(
            "consumer reconciled node=%s finalised=%d live=%d young=%d channels=%d",
            self.name, result.finalised, result.live, result.young, len(marker.channels),
        )  # fmt: skip
        if result.judge_young_at is not None and not self._stopping:
            # their job may have been lost with the connection: look again once they are old
            wait = (result.judge_young_at - self.clock.now()).total_seconds()
            delay = max(FOLLOWUP_MIN_DELAY, self.clock.real_seconds(wait) + 0.05)
            if self._followup is not None:
                self._followup.kill(block=False)
            self._followup = gevent.spawn_later(delay, self._snapshot)
        if self.on_reconcile is not None:
            self.on_reconcile(result)

    def _with_retries(self, what: str, work: Callable[[Any], Any], *, size: int) -> Any:
        """``work(session)`` in one transaction until it commits. A database outage is
        retried for as long as it lasts (with backoff); anything else ``POISON_TRIES``
        times. Returns its result, or None when given up."""
        delay = RETRY_FIRST
        tries = 0
        while True:
            tries += 1
            try:
                with self._sessions() as session, session.begin():
                    return work(session)
            except Exception as exc:
                transient = isinstance(exc, _TRANSIENT) or (
                    isinstance(exc, DBAPIError) and exc.connection_invalidated
                )
                log.error(
                    "consumer %s error node=%s size=%d try=%d transient=%s error=%s",
                    what, self.name, size, tries, transient, _one_line(exc),
                    exc_info=not transient,
                )  # fmt: skip
                if not transient and tries >= POISON_TRIES:
                    return None
                if self._stopping and time.monotonic() > self._stop_deadline:
                    return None
                gevent.sleep(delay)
                delay = min(delay * 2, self.retry_cap)

    def _drop(self, items: list[Incoming], why: str) -> None:
        self.dropped += len(items)
        if why in ("no such attempt", "stopping"):
            self._unmatched_counter.inc(len(items))
        log.warning(
            "consumer dropped node=%s events=%d reason=%s attempts=%s",
            self.name, len(items), why, sorted({str(i.attempt_id) for i in items})[:10],
        )  # fmt: skip

    def _publish_active(self) -> None:
        counts: dict[str, int] = {}
        for label in self._active.values():
            counts[label] = counts.get(label, 0) + 1
        known = set(counts) | set(self._gauge_labels)
        for label in known:
            metrics.CALLS_ACTIVE.labels(campaign=label, node=self.name).set(counts.get(label, 0))
        self._gauge_labels = known


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def run_consumer(
    node: NodeConfig,
    engine: Engine,
    leases: LeaseBackend | None,
    *,
    clock: Clock | None = None,
    stop: gevent.event.Event,
    **options: Any,
) -> None:
    """Run the consumer of ``node`` until ``stop`` is set, then flush and return (the
    embedded mode runs one per node in-process; ``dialer consumer`` runs one alone)."""
    consumer = Consumer(node, engine, leases, clock=clock, **options)
    consumer.start()
    try:
        stop.wait()
    finally:
        consumer.stop()
