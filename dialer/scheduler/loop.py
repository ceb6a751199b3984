"""The scheduler tick: who may be called now (DESIGN §2), and the loop of the embedded mode.

One :func:`tick` is one admission round:

1. ``scheduled`` campaigns whose ``schedule.start`` has passed become ``running``; running
   campaigns past ``schedule.end`` have their pending recipients ``skipped``/``after_end``;
2. queued attempts that must be handed to the broker (again) are dispatched, after their
   DNC and window checks are repeated (:mod:`dialer.scheduler.dispatch`); the statement that
   counts queued and live attempts for step 3 also counts these, so a round with none runs
   no query for them;
3. each running campaign's capacity is computed and shared (:mod:`dialer.scheduler.capacity`);
4. due recipients are admitted, one transaction per campaign, and the new attempt ids
   dispatched after the commit (:mod:`dialer.scheduler.admission`); campaigns that could not
   use their share leave it to the others in a further round;
5. campaigns with nothing left to do are completed: asked only when the round saw nothing
   queued or live for them, and while the answer stays no at most every
   :data:`COMPLETION_SECONDS` (:class:`_CompletionChecks`).

Steps 1 to 4 share one connection; step 1 and the counts of step 3 are one transaction. An
idle round (nothing to admit or re-dispatch) is two statements; each campaign that admits
adds two. Parsed campaign configs, calling hours, trunks and nodes are kept between rounds
and parsed again only when their source changes.

**Concurrency**: a tick is idempotent and safe to interrupt at any line (every step is its own
transaction and only moves rows forward), but two ticks must not run at the same time: they
would both read the same free capacity and admit it twice. The Celery beat schedules one tick
at a time, and :func:`run_scheduler` runs them one after another; anything else that calls
:func:`tick` must hold an external lock. (On PostgreSQL the rows themselves are locked with
``SKIP LOCKED``, so even overlapping ticks never create two attempts for one recipient; only
the channel limits could be overshot, and the workers' leases still hold those.)

The cost of a tick does not grow with the size of the lists: every query is driven by an
index and bounded by the rows it takes, except the ``dialer_recipients_pending`` gauge, which
counts at most every :data:`PENDING_REFRESH_SECONDS`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from dialer import metrics
from dialer.campaigns.model import CampaignConfig, CampaignConfigError, parse_config
from dialer.campaigns.schedule import CallingRule
from dialer.campaigns.service import complete_if_done
from dialer.clock import Clock, get_clock
from dialer.config import ConfigError, Settings
from dialer.db.models import Campaign, CampaignRecipient
from dialer.leases.backend import LeaseBackend
from dialer.scheduler.admission import Admission, admit, calling_hours
from dialer.scheduler.capacity import (
    Occupancy,
    Pool,
    RunningCampaign,
    occupancy,
    plan_capacity,
    rotated,
    settings_trunk,
    water_fill,
)
from dialer.scheduler.dispatch import REDISPATCH_AFTER, hand_over, select_for_redispatch

log = logging.getLogger("dialer.scheduler")

#: The pending gauge counts rows: at most this often (wall seconds).
PENDING_REFRESH_SECONDS = 15.0
#: Admission rounds per tick: the later ones hand out what campaigns could not use.
MAX_ROUNDS = 3
#: A campaign found not yet done is asked again at most this often (clock or wall seconds).
COMPLETION_SECONDS = 1.0

_CAMPAIGNS = cast(sa.Table, Campaign.__table__)
_CR = cast(sa.Table, CampaignRecipient.__table__)


class StopEvent(Protocol):
    """``threading.Event`` or ``gevent.event.Event``."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass
class CampaignTick:
    """What one tick did for one campaign."""

    campaign_id: int
    admitted: int = 0
    redispatched: int = 0
    #: Recipients made final without a call, by reason (dnc, unknown_zone, no_window,
    #: after_end).
    skipped: Counter[str] = field(default_factory=Counter)
    #: Recipients whose window was closed: moved to their next open instant.
    blocked: int = 0
    #: Free channels before sharing: the least over the campaign's scopes.
    free_channels: int = 0
    #: Pacing budget of this tick (campaign and trunk cps, minus what is queued).
    budget: int = 0
    #: Slots this campaign was offered after sharing, over all rounds.
    capacity: int = 0
    #: Attempts whose hand-over to the broker raised (re-dispatched next tick).
    dispatch_failed: int = 0
    #: Queued attempts cancelled instead of re-dispatched: their number went on the DNC list
    #: or their window closed while they waited (their recipients are counted in ``skipped``
    #: or ``blocked``).
    recalled: int = 0
    #: Wall seconds spent admitting for this campaign.
    duration: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "admitted": self.admitted,
            "redispatched": self.redispatched,
            "skipped": dict(self.skipped),
            "blocked": self.blocked,
            "free_channels": self.free_channels,
            "budget": self.budget,
            "capacity": self.capacity,
            "dispatch_failed": self.dispatch_failed,
            "recalled": self.recalled,
            "duration": round(self.duration, 6),
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class TickReport:
    at: datetime
    campaigns: dict[int, CampaignTick] = field(default_factory=dict)
    #: Campaigns moved from scheduled to running.
    started: list[int] = field(default_factory=list)
    #: Running campaigns past their schedule's end this tick.
    ended: list[int] = field(default_factory=list)
    #: Campaigns completed (nothing pending, active or live).
    completed: list[int] = field(default_factory=list)
    #: Single calls (no campaign) handed to the broker again.
    redispatched_single: int = 0
    #: Wall seconds the whole tick took.
    duration: float = 0.0

    def campaign(self, campaign_id: int) -> CampaignTick:
        found = self.campaigns.get(campaign_id)
        if found is None:
            found = self.campaigns[campaign_id] = CampaignTick(campaign_id)
        return found

    @property
    def admitted(self) -> int:
        return sum(c.admitted for c in self.campaigns.values())

    @property
    def redispatched(self) -> int:
        return self.redispatched_single + sum(c.redispatched for c in self.campaigns.values())

    @property
    def skipped(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for c in self.campaigns.values():
            total.update(c.skipped)
        return total

    @property
    def blocked(self) -> int:
        return sum(c.blocked for c in self.campaigns.values())

    @property
    def did_something(self) -> bool:
        return bool(
            self.admitted
            or self.redispatched
            or self.skipped
            or self.blocked
            or self.started
            or self.ended
            or self.completed
            or any(c.dispatch_failed or c.error for c in self.campaigns.values())
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "duration": round(self.duration, 6),
            "admitted": self.admitted,
            "redispatched": self.redispatched,
            "skipped": dict(self.skipped),
            "blocked": self.blocked,
            "started": self.started,
            "ended": self.ended,
            "completed": self.completed,
            "campaigns": {str(k): v.as_dict() for k, v in sorted(self.campaigns.items())},
        }


# -- step 1: starts and ends ----------------------------------------------------------------

# The last config parsed per campaign, with the document it came from: a running campaign's
# config does not change, so it is validated once, not five times a second.
_PARSED: dict[int, tuple[Any, CampaignConfig | None, str]] = {}


def _parse(campaign_id: int, data: Any) -> tuple[CampaignConfig | None, str]:
    hit = _PARSED.get(campaign_id)
    if hit is not None and hit[0] == data:
        return hit[1], hit[2]
    try:
        config: CampaignConfig | None = parse_config(data)
        problem = ""
    except CampaignConfigError as exc:
        config, problem = None, str(exc)
    if len(_PARSED) > 1000:
        _PARSED.clear()
    _PARSED[campaign_id] = (data, config, problem)
    return config, problem


_LISTED = (
    sa.select(_CAMPAIGNS.c.id, _CAMPAIGNS.c.status, _CAMPAIGNS.c.config)
    .where(_CAMPAIGNS.c.status.in_(("scheduled", "running")))
    .order_by(_CAMPAIGNS.c.id)
)


def _load_campaigns(conn: Connection) -> list[tuple[int, str, CampaignConfig | None]]:
    rows = conn.execute(_LISTED).all()
    found: list[tuple[int, str, CampaignConfig | None]] = []
    for campaign_id, status, data in rows:
        config, problem = _parse(campaign_id, data)
        if config is None:
            log.error(
                "scheduler: campaign %s has an invalid config, skipped: %s", campaign_id, problem
            )
        found.append((campaign_id, status, config))
    return found


def _start_due(conn: Connection, campaign_id: int, now: datetime) -> bool:
    moved = conn.execute(
        sa.update(_CAMPAIGNS)
        .where(_CAMPAIGNS.c.id == campaign_id, _CAMPAIGNS.c.status == "scheduled")
        .values(
            status="running",
            started_at=sa.func.coalesce(_CAMPAIGNS.c.started_at, now),
            updated_at=now,
        )
    )
    return moved.rowcount == 1


def _skip_after_end(conn: Connection, campaign_id: int, now: datetime) -> int:
    done = conn.execute(
        sa.update(_CR)
        .where(_CR.c.campaign_id == campaign_id, _CR.c.status == "pending")
        .values(status="skipped", final_outcome="after_end", blocked_reason=None, updated_at=now)
    )
    return int(done.rowcount or 0)


# -- step 5: completion ---------------------------------------------------------------------


def _complete(engine: Engine, campaign_id: int, clock: Clock) -> bool:
    with Session(engine) as session, session.begin():
        return complete_if_done(session, campaign_id, clock=clock)


class _CompletionChecks:
    """When each campaign's completion was last looked for in vain, per engine.

    A campaign with a queued or live attempt cannot complete, and the round already knows
    (its occupancy): it is not asked. One with none is asked at once, and then, while the
    answer stays no (recipients waiting for their window, channels held elsewhere), at most
    every :data:`COMPLETION_SECONDS` of clock or wall time, whichever passes first (a frozen
    clock still completes within a wall second).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: weakref.WeakKeyDictionary[Engine, dict[int, tuple[float, float]]] = (
            weakref.WeakKeyDictionary()
        )

    def due(self, engine: Engine, campaign_id: int, now: float) -> bool:
        with self._lock:
            last = self._last.get(engine, {}).get(campaign_id)
        if last is None:
            return True
        at, mono = last
        return (
            not at <= now < at + COMPLETION_SECONDS or time.monotonic() - mono >= COMPLETION_SECONDS
        )

    def failed(self, engine: Engine, campaign_id: int, now: float) -> None:
        with self._lock:
            self._last.setdefault(engine, {})[campaign_id] = (now, time.monotonic())

    def forget(self, engine: Engine, keep: Iterable[int]) -> None:
        """Drop the campaigns no longer running (paused, completed, cancelled)."""
        with self._lock:
            known = self._last.get(engine)
            if known:
                kept = set(keep)
                for gone in [c for c in known if c not in kept]:
                    del known[gone]


_COMPLETION = _CompletionChecks()


# -- metrics --------------------------------------------------------------------------------


class _PendingGauge:
    """``dialer_recipients_pending``: one grouped count, at most every 15 wall seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._labels: dict[str, set[str]] = {}

    def refresh(self, engine: Engine, campaign_ids: Sequence[int], *, force: bool = False) -> None:
        key = engine.url.render_as_string(hide_password=True)
        mono = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if not force and last is not None and mono - last < PENDING_REFRESH_SECONDS:
                return
            self._last[key] = mono
        counts: dict[int, int] = dict.fromkeys(campaign_ids, 0)
        if campaign_ids:
            with engine.connect() as conn:
                for campaign_id, count in conn.execute(
                    sa.select(_CR.c.campaign_id, sa.func.count())
                    .where(_CR.c.campaign_id.in_(list(campaign_ids)), _CR.c.status == "pending")
                    .group_by(_CR.c.campaign_id)
                ):
                    counts[campaign_id] = count
        labels = {str(c) for c in counts}
        with self._lock:
            for gone in self._labels.get(key, set()) - labels:
                with contextlib.suppress(KeyError):
                    metrics.RECIPIENTS_PENDING.remove(gone)
            self._labels[key] = labels
        for campaign_id, count in counts.items():
            metrics.RECIPIENTS_PENDING.labels(str(campaign_id)).set(count)


PENDING_GAUGE = _PendingGauge()


# -- the tick -------------------------------------------------------------------------------


def tick(
    engine: Engine,
    *,
    leases: LeaseBackend,
    dispatch: Callable[[Sequence[str]], None],
    settings: Settings,
    clock: Clock | None = None,
    tick_seconds: float = 1.0,
    lookahead: int = 2,
    rules: Sequence[CallingRule] = (),
    redispatch_after: float = REDISPATCH_AFTER,
    pending_gauge: bool = True,
) -> TickReport:
    """One admission round (see the module docstring). Never run two at once."""
    clock = clock or get_clock()
    wall0 = time.perf_counter()
    now = clock.now()
    report = TickReport(at=now)
    running: list[tuple[int, CampaignConfig]] = []
    # One connection for the round: a pool checkout (and its pre-ping) per round, not per step.
    with engine.connect() as conn:
        # 1. starts and ends, and what is queued or live, in one transaction
        with conn.begin():
            for campaign_id, status, config in _load_campaigns(conn):
                if config is None:
                    report.campaign(campaign_id).error = "invalid config"
                    continue
                schedule = config.schedule
                if status == "scheduled":
                    if schedule.start is not None and schedule.start > now:
                        continue
                    if _start_due(conn, campaign_id, now):
                        report.started.append(campaign_id)
                        log.info(
                            "scheduler: campaign %s started (schedule.start passed)", campaign_id
                        )
                if schedule.end is not None and schedule.end <= now:
                    skipped = _skip_after_end(conn, campaign_id, now)
                    if skipped:
                        report.ended.append(campaign_id)
                        report.campaign(campaign_id).skipped["after_end"] += skipped
                running.append((campaign_id, config))
            found = occupancy(conn, now=now, stale=now - timedelta(seconds=redispatch_after))

        # 2. re-dispatch what the broker never got (or lost), when the count says there is any
        running_ids = {c for c, _ in running}
        if any(owner is None or owner in running_ids for owner in found.resend_by_campaign):
            hours = {c: calling_hours(c, config.schedule, rules) for c, config in running}
            resend = select_for_redispatch(
                conn, now=now, redispatch_after=redispatch_after, hours=hours
            )
            if resend.cancelled:
                # cancelled attempts no longer count against the limits
                with conn.begin():
                    found = occupancy(conn)
            for recalled_from, reasons in resend.cancelled.items():
                recalled = report.campaign(recalled_from)
                recalled.recalled += sum(reasons.values())
                for reason, count in reasons.items():
                    if reason == "outside_window":
                        recalled.blocked += count
                    else:
                        recalled.skipped[reason] += count
            for owner, ids in resend.ids.items():
                ok = hand_over(engine, dispatch, ids, now=now)
                if owner is None:
                    report.redispatched_single += len(ids) if ok else 0
                    continue
                entry = report.campaign(owner)
                if ok:
                    entry.redispatched += len(ids)
                else:
                    entry.dispatch_failed += len(ids)

        # 3. capacity
        admissible: list[RunningCampaign] = []
        for campaign_id, config in running:
            if config.schedule.end is not None and config.schedule.end <= now:
                continue
            try:
                trunk = settings_trunk(settings, config.trunk)
            except ConfigError as exc:
                report.campaign(campaign_id).error = str(exc)
                log.error("scheduler: campaign %s not admitted: %s", campaign_id, exc)
                continue
            admissible.append(RunningCampaign(campaign_id, config, trunk))
        if admissible:
            _admit_all(
                conn,
                engine,
                admissible,
                found=found,
                report=report,
                leases=leases,
                dispatch=dispatch,
                settings=settings,
                now=now,
                tick_seconds=tick_seconds,
                lookahead=lookahead,
                rules=rules,
            )

    # 5. completion: only where nothing is queued or live (a campaign that admitted someone
    # now has an active recipient), and not every round while the answer stays no
    at = now.timestamp()
    for campaign_id, _config in running:
        this = report.campaigns.get(campaign_id)
        if this is not None and this.admitted:
            continue
        if found.queued_by_campaign.get(campaign_id) or found.live_by_campaign.get(campaign_id):
            continue
        if not _COMPLETION.due(engine, campaign_id, at):
            continue
        try:
            if _complete(engine, campaign_id, clock):
                report.completed.append(campaign_id)
                log.info("scheduler: campaign %s completed", campaign_id)
            else:
                _COMPLETION.failed(engine, campaign_id, at)
        except Exception:
            log.exception("scheduler: completing campaign %s failed", campaign_id)
    _COMPLETION.forget(engine, (c for c in running_ids if c not in report.completed))

    # metrics and the one log line
    for entry in report.campaigns.values():
        if entry.admitted:
            metrics.SCHEDULER_ADMITTED.labels(str(entry.campaign_id)).inc(entry.admitted)
        for reason, count in entry.skipped.items():
            metrics.RECIPIENTS_BLOCKED.labels(reason).inc(count)
        if entry.blocked:
            metrics.RECIPIENTS_BLOCKED.labels("outside_window").inc(entry.blocked)
    if pending_gauge:
        still = [c for c, _ in running if c not in report.completed]
        try:
            PENDING_GAUGE.refresh(engine, still)
        except sa.exc.SQLAlchemyError:
            log.exception("scheduler: counting pending recipients failed")
    report.duration = time.perf_counter() - wall0
    metrics.SCHEDULER_TICK_SECONDS.observe(report.duration)
    if report.did_something:
        summary = report.as_dict()
        log.info(
            "scheduler tick at=%s admitted=%d redispatched=%d skipped=%s blocked=%d started=%s "
            "ended=%s completed=%s duration=%.4f campaigns=%s",
            summary["at"],
            report.admitted,
            report.redispatched,
            summary["skipped"],
            report.blocked,
            report.started,
            report.ended,
            report.completed,
            report.duration,
            summary["campaigns"],
            extra={"scheduler_tick": summary},
        )
    return report


def _admit_all(
    conn: Connection,
    engine: Engine,
    campaigns: list[RunningCampaign],
    *,
    found: Occupancy,
    report: TickReport,
    leases: LeaseBackend,
    dispatch: Callable[[Sequence[str]], None],
    settings: Settings,
    now: datetime,
    tick_seconds: float,
    lookahead: int,
    rules: Sequence[CallingRule],
) -> None:
    plan = plan_capacity(
        campaigns,
        leases=leases,
        settings=settings,
        now=now.timestamp(),
        found=found,
        tick_seconds=tick_seconds,
        lookahead=lookahead,
    )
    by_id = {c.id: c for c in campaigns}
    # Who goes first (and gets an indivisible remainder) changes every tick.
    order = rotated(sorted(by_id), int(now.timestamp() // max(tick_seconds, 1e-3)))
    own_left: dict[int, int] = {}
    pools_of: dict[int, tuple[Pool, ...]] = {}
    for campaign_id in order:
        capacity = plan.campaigns[campaign_id]
        entry = report.campaign(campaign_id)
        entry.free_channels, entry.budget = capacity.free_channels, capacity.budget
        own_left[campaign_id] = capacity.own
        pools_of[campaign_id] = capacity.pools
    pools = dict(plan.pools)
    done: set[int] = set()
    for _ in range(MAX_ROUNDS):
        claimants = [c for c in order if c not in done and own_left[c] > 0]
        if not claimants:
            break
        shares = water_fill(own_left, pools_of, pools, claimants)
        if not any(shares.values()):
            break
        short = False
        for campaign_id in claimants:
            slots = shares.get(campaign_id, 0)
            if slots <= 0:
                continue
            entry = report.campaign(campaign_id)
            entry.capacity += slots
            admitted = _admit_one(conn, by_id[campaign_id], slots, now, rules, entry)
            if admitted.attempt_ids and not hand_over(
                engine, dispatch, admitted.attempt_ids, now=now
            ):
                entry.dispatch_failed += len(admitted.attempt_ids)
            taken = len(admitted.attempt_ids)
            own_left[campaign_id] -= taken
            for pool in pools_of[campaign_id]:
                pools[pool] -= taken
            if taken < slots:
                done.add(campaign_id)
                short = True
        if not short:
            break  # everyone used what it was offered: nothing to hand out again


def _admit_one(
    conn: Connection,
    campaign: RunningCampaign,
    slots: int,
    now: datetime,
    rules: Sequence[CallingRule],
    entry: CampaignTick,
) -> Admission:
    started = time.perf_counter()
    try:
        with conn.begin():
            admitted = admit(
                conn,
                campaign,
                slots,
                now=now,
                hours=calling_hours(campaign.id, campaign.config.schedule, rules),
                by_phone=bool(rules),
            )
    except sa.exc.SQLAlchemyError as exc:
        log.exception("scheduler: admission for campaign %s failed", campaign.id)
        entry.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        admitted = Admission(exhausted=True)
    entry.duration += time.perf_counter() - started
    entry.admitted += len(admitted.attempt_ids)
    entry.skipped.update(admitted.skipped)
    entry.blocked += admitted.blocked
    return admitted


# -- the embedded loop ----------------------------------------------------------------------


def run_scheduler(
    engine: Engine,
    *,
    leases: LeaseBackend,
    dispatch: Callable[[Sequence[str]], None],
    settings: Settings,
    clock: Clock | None = None,
    stop: StopEvent,
    tick_seconds: float = 1.0,
    lookahead: int = 2,
    rules: Sequence[CallingRule] = (),
    on_tick: Callable[[TickReport], None] | None = None,
    redispatch_after: float = REDISPATCH_AFTER,
) -> int:
    """Tick every ``tick_seconds`` of ``clock`` time until ``stop`` is set; returns the ticks.

    The wait is ``clock.real_seconds(tick_seconds)`` wall seconds from the start of one tick
    to the next, so a scaled clock ticks in scaled time (a frozen clock: back to back). A tick
    that raises is logged and the loop goes on (a database restart must not end it).
    """
    clock = clock or get_clock()
    ticks = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            report = tick(
                engine,
                leases=leases,
                dispatch=dispatch,
                settings=settings,
                clock=clock,
                tick_seconds=tick_seconds,
                lookahead=lookahead,
                rules=rules,
                redispatch_after=redispatch_after,
            )
        except Exception:
            log.exception("scheduler tick failed")
        else:
            if on_tick is not None:
                on_tick(report)
        ticks += 1
        wait = clock.real_seconds(tick_seconds) - (time.monotonic() - started)
        if _pause(stop, leases, wait):
            break
    return ticks


#: How often a pause looks at ``stop`` while it waits for a released lease.
_STOP_POLL = 0.05


def _pause(stop: StopEvent, leases: LeaseBackend, seconds: float) -> bool:
    """Wait until the next round is due or a lease is released, whichever comes first (a
    freed channel is offered again at once). True when ``stop`` was set."""
    deadline = time.monotonic() + max(0.0, seconds)
    while not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if leases.wait_released(min(remaining, _STOP_POLL)):
            return stop.is_set()
    return True
