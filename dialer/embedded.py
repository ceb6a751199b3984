"""The embedded mode, ``dialer run``: the whole engine in one gevent process.

A scheduler loop, an in-process originate pool (the same :class:`Originator` a Celery worker
runs), one consumer per node and the sweeper, over the configured database (SQLite by
default) and the in-process lease backend. With ``simulate`` an in-process simulator is the
switch, and the dialer and the simulator share one scaled clock that may start at any
moment: a dry run that forecasts how long a campaign takes and how it ends.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import gevent
import gevent.event
import gevent.pool
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.campaigns.service import start_campaign
from dialer.clock import Clock, ScaledClock, clock_seconds, get_clock, set_clock
from dialer.config import Settings
from dialer.consumer import run_consumer
from dialer.db.models import CallAttempt, Campaign
from dialer.fs_nodes import NodeConfig
from dialer.leases import LeaseBackend, make_backend
from dialer.originate.pool import NodePool
from dialer.originate.rebuild import rebuild_leases
from dialer.originate.sweeper import sweep
from dialer.originate.worker import Originator, batches
from dialer.runtime import start_metrics_server
from dialer.scheduler import run_scheduler
from dialer.simulator import Simulator
from dialer.simulator.clock import SimClock
from dialer.webhooks.delivery import Deliverer, run_rounds

log = logging.getLogger("dialer.run")

FINISHED = ("completed", "cancelled")
SWEEP_SECONDS = 15.0
ADMISSION_SECONDS = 0.2
MIN_REAL_TICK = 0.02
#: Real seconds an ending run spends sending the webhook events still due.
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class RunOptions:
    campaigns: Sequence[int] = ()
    until_done: bool = False
    simulate: str | None = None  # scenario name or file
    time_scale: float = 1.0
    start_at: datetime | None = None
    pool_size: int = 200
    seed: int | None = None
    sessions_per_second: int = 1000
    max_sessions: int = 10_000
    timeout: float | None = None  # real seconds


@dataclass
class RunReport:
    campaigns: dict[int, str] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    originates_seen_by_switch: int = 0
    duplicate_originates: int = 0
    peak_channels: dict[str, int] = field(default_factory=dict)
    timed_out: bool = False

    @property
    def simulated_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


class EmbeddedRun:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        options: RunOptions,
        *,
        progress: Callable[[EmbeddedRun], None] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.options = options
        self.progress = progress
        self.stop = gevent.event.Event()
        self.simulator: Simulator | None = None
        self.clock: Clock = get_clock()
        self.nodes: list[NodeConfig] = list(settings.nodes)
        self.leases: LeaseBackend = make_backend(settings.redis_url)
        self._previous_clock: Clock | None = None

    # -- set-up ------------------------------------------------------------------------------

    def _start_simulator(self) -> None:
        options = self.options
        assert options.simulate is not None
        scaled = ScaledClock(options.time_scale, options.start_at)
        self._previous_clock = set_clock(scaled)
        self.clock = scaled
        first = self.nodes[0]
        self.simulator = Simulator(
            password=first.password.get_secret_value(),
            scenario=options.simulate,
            time_scale=options.time_scale,
            port=0,
            seed=options.seed,
            max_sessions=options.max_sessions,
            sessions_per_second=options.sessions_per_second,
            clock=SimClock(options.time_scale, epoch0=scaled.epoch0, mono0=scaled.mono0),
        )
        self.simulator.start()
        host, port = self.simulator.address
        # one simulated node stands in for the configured ones, with their limits
        self.nodes = [
            first.model_copy(
                update={
                    "host": host,
                    "port": port,
                    "max_channels": max(n.max_channels for n in self.nodes),
                }
            )
        ]
        log.info("simulator scenario=%s address=%s:%d", options.simulate, host, port)

    def run(self) -> RunReport:
        if self.options.simulate is not None:
            self._start_simulator()
        settings = self.settings
        if self.options.simulate is not None:
            settings = settings.model_copy(update={"fs_nodes": _nodes_json(self.nodes)})
        start_metrics_server(settings, "run")
        report = RunReport(started_at=self.clock.now())
        for campaign_id in self.options.campaigns:
            self._start_if_draft(campaign_id)
        rebuild_leases(self.engine, self.leases, settings, self.clock)

        pool = NodePool(self.nodes)
        pool.start(wait=10.0)
        originator = Originator(self.engine, self.leases, pool, settings, clock=self.clock)
        workers = gevent.pool.Pool(self.options.pool_size)
        deliverer = Deliverer(self.engine, settings=settings, clock=self.clock)

        def dispatch(ids: Sequence[str]) -> None:
            for batch in batches(ids):
                workers.spawn(originator.originate_many, batch)

        greenlets = [
            gevent.spawn(
                run_scheduler,
                self.engine,
                leases=self.leases,
                dispatch=dispatch,
                settings=settings,
                clock=self.clock,
                stop=self.stop,
                rules=settings.calling_rules,
                tick_seconds=self._tick_seconds(),
                # a lost message is a wall-time matter
                redispatch_after=clock_seconds(self.clock, settings.redispatch_seconds),
            ),
            gevent.spawn(self._sweep_loop, pool, settings),
            gevent.spawn(self._deliver_loop, deliverer),
            *(
                gevent.spawn(
                    run_consumer, node, self.engine, self.leases, clock=self.clock, stop=self.stop
                )
                for node in self.nodes
            ),
        ]
        for signum in (signal.SIGINT, signal.SIGTERM):
            gevent.signal_handler(signum, self.stop.set)
        try:
            self._watch(report)
        finally:
            self.stop.set()
            workers.join(timeout=5)
            gevent.joinall(greenlets, timeout=10)
            gevent.killall([g for g in greenlets if not g.dead], timeout=2)
            self._drain_webhooks(deliverer)
            deliverer.close()
            pool.close()
            report.ended_at = self.clock.now()
            self._summarise(report)
            if self.simulator is not None:
                self.simulator.stop()
            if self._previous_clock is not None:
                set_clock(self._previous_clock)
        return report

    def _tick_seconds(self) -> float:
        """Admission rounds every 0.2 s: a channel freed by a hangup is refilled within a
        fifth of a second, not a whole second (mean live / limit ~0.88 with 6 s calls and
        1 s ticks). On a fast clock, never more often than every 20 ms of wall time."""
        return max(ADMISSION_SECONDS, clock_seconds(self.clock, MIN_REAL_TICK))

    def _start_if_draft(self, campaign_id: int) -> None:
        with Session(self.engine) as session:
            campaign = session.get(Campaign, campaign_id)
            status = campaign.status if campaign else None
        if status == "draft":
            start_campaign(self.engine, campaign_id, clock=self.clock)

    def _sweep_loop(self, pool: NodePool, settings: Settings) -> None:
        while not self.stop.wait(self.clock.real_seconds(SWEEP_SECONDS)):
            try:
                sweep(self.engine, self.leases, pool, clock=self.clock, settings=settings)
            except Exception:
                log.exception("sweep failed")

    def _deliver_loop(self, deliverer: Deliverer) -> None:
        run_rounds(deliverer, seconds=0, idle=ADMISSION_SECONDS, stop=self.stop.wait)

    def _drain_webhooks(self, deliverer: Deliverer) -> None:
        """What the last calls emitted is sent before the run ends (events waiting for a
        retry stay in the outbox, for the next run or a worker)."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                if not deliverer.run_round().claimed:
                    return
            except Exception:
                log.exception("webhook delivery failed while draining")
                return

    def _watch(self, report: RunReport) -> None:
        real_deadline = None if self.options.timeout is None else self.options.timeout
        waited = 0.0
        step = 0.5
        while not self.stop.wait(step):
            waited += step
            if self.progress is not None:
                self.progress(self)
            if self.options.until_done and self._all_done():
                return
            if real_deadline is not None and waited >= real_deadline:
                report.timed_out = True
                return

    def watched_campaigns(self) -> list[int]:
        if self.options.campaigns:
            return list(self.options.campaigns)
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    sa.select(Campaign.id).where(
                        Campaign.status.in_(("running", "scheduled", "paused"))
                    )
                )
            )

    def _all_done(self) -> bool:
        ids = self.watched_campaigns()
        if not ids:
            return True
        with Session(self.engine) as session:
            statuses = session.scalars(sa.select(Campaign.status).where(Campaign.id.in_(ids)))
            return all(status in FINISHED for status in statuses)

    def _summarise(self, report: RunReport) -> None:
        ids = self.watched_campaigns()
        with Session(self.engine) as session:
            for cid, status in session.execute(
                sa.select(Campaign.id, Campaign.status).where(Campaign.id.in_(ids))
            ):
                report.campaigns[cid] = status
            rows = session.execute(
                sa.select(CallAttempt.outcome, sa.func.count())
                .where(CallAttempt.campaign_id.in_(ids), CallAttempt.state == "ended")
                .group_by(CallAttempt.outcome)
            ).all()
        for outcome, count in rows:
            report.outcomes[outcome or "unknown"] = count
        report.attempts = sum(report.outcomes.values())
        if self.simulator is not None:
            ledger = self.simulator.facts
            report.originates_seen_by_switch = len(ledger.of("originate"))
            report.duplicate_originates = sum(
                n - 1 for n in ledger.duplicates_by_attempt().values()
            )
            report.peak_channels = ledger.max_concurrent_by_campaign()


def _nodes_json(nodes: Sequence[NodeConfig]) -> str:
    import json

    return json.dumps(
        [
            {**node.model_dump(mode="json"), "password": node.password.get_secret_value()}
            for node in nodes
        ]
    )
