"""Task entry points: thin doors onto the library (DESIGN §3)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from celery import signals

from dialer import metrics
from dialer.originate.sweeper import sweep as run_sweep
from dialer.originate.worker import batches
from dialer.runtime import start_metrics_server, tick_lock, tune_gc
from dialer.scheduler import tick
from dialer.services import process_services
from dialer.webhooks.delivery import run_rounds
from workers.app import ADMISSION_SECONDS, TICK_SECONDS, app

log = logging.getLogger("dialer.workers")


@app.task(name="dialer.originate_batch", acks_late=True)  # type: ignore[untyped-decorator]
def originate_batch(attempt_ids: list[str]) -> dict[str, int]:
    """Originate a batch of attempts: one message, one query, one lease round trip and one
    claim for all of them (a message costs a worker more CPU than the call's own work)."""
    results: Counter[str] = Counter()
    for outcome in process_services().originator.originate_many(attempt_ids):
        results[outcome.result] += 1
    for result, count in results.items():
        metrics.ORIGINATE_TASKS.labels(result=result).inc(count)
    return dict(results)


@app.task(name="dialer.originate", acks_late=True)  # type: ignore[untyped-decorator]
def originate(attempt_id: str) -> str:
    """One attempt (messages sent before batches existed are still served)."""
    return str(next(iter(originate_batch([attempt_id]))))


def dispatch_originates(attempt_ids: Sequence[str]) -> None:
    """Hand attempt ids to the originate queue, in batches (ids only, never state)."""
    for batch in batches(attempt_ids):
        originate_batch.apply_async(args=[batch], queue="originate")


@app.task(name="dialer.scheduler.tick")  # type: ignore[untyped-decorator]
def scheduler_tick() -> dict[str, Any]:
    services = process_services()
    with tick_lock(services.settings, "tick", ttl=30) as held:
        if not held:
            return {"skipped": "another tick is running"}
        # Beat fires once a second; within that second the task runs admission rounds every
        # ADMISSION_SECONDS, so a channel freed by a hangup is refilled within a fifth of a
        # second (one-second rounds leave ~12 % of channels idle with 6 s calls).
        admitted = redispatched = 0
        ends = time.monotonic() + TICK_SECONDS - ADMISSION_SECONDS / 2
        while True:
            started = time.monotonic()
            report = tick(
                services.engine,
                leases=services.leases,
                dispatch=dispatch_originates,
                settings=services.settings,
                clock=services.clock,
                tick_seconds=ADMISSION_SECONDS,
                rules=services.settings.calling_rules,
                redispatch_after=services.settings.redispatch_seconds,
            )
            admitted += report.admitted
            redispatched += report.redispatched
            if started + ADMISSION_SECONDS >= ends:
                break
            # the next round comes when it is due, or at once when a hangup frees a lease
            services.leases.wait_released(
                max(0.0, ADMISSION_SECONDS - (time.monotonic() - started))
            )
        return {"admitted": admitted, "redispatched": redispatched}


@app.task(name="dialer.sweep")  # type: ignore[untyped-decorator]
def sweep() -> dict[str, Any]:
    services = process_services()
    with tick_lock(services.settings, "sweep", ttl=120) as held:
        if not held:
            return {"skipped": "another sweep is running"}
        report = run_sweep(
            services.engine,
            services.leases,
            services.pool,
            clock=services.clock,
            settings=services.settings,
        )
        return {
            "leases_released": report.leases_released,
            "leases_restored": report.leases_restored,
            "finalised": dict(report.finalised),
        }


@app.task(name="dialer.webhooks.deliver")  # type: ignore[untyped-decorator]
def deliver_webhooks() -> dict[str, int]:
    """Deliver due webhook events for about a tick (beat sends one every second; several
    workers deliver side by side: their claims never share a call)."""
    report = run_rounds(process_services().deliverer, seconds=TICK_SECONDS * 0.9)
    return {"delivered": report.delivered, "failed": report.failed, "dead": report.dead}


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _process_init(**_: Any) -> None:
    _worker_up()


def _worker_up() -> None:
    tune_gc()
    services = process_services()
    start_metrics_server(services.settings, "worker")
    # connect to the nodes now, not at the first call (which would find none connected and
    # go back to the scheduler); the clients reconnect on their own from here on
    services.pool.start()


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _ready(sender: Any = None, **_: Any) -> None:
    # the gevent and solo pools run tasks in the main process: no worker_process_init there
    pool = getattr(getattr(sender, "pool_cls", None), "__module__", "")
    if "prefork" not in pool:
        _worker_up()


@signals.beat_init.connect  # type: ignore[untyped-decorator]
def _beat_init(**_: Any) -> None:
    start_metrics_server(process_services().settings, "beat")
