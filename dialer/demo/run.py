"""The demo from start to end: the main job of the dialer on simulated time, in one process.

1. A fresh SQLite database in the output directory (migrated; the last demo's is deleted).
2. The shipped list ``dialer/samples/demo_contacts.csv`` imported (its bad rows rejected).
3. The shipped press-1 campaign ``dialer/samples/demo_campaign.yaml`` created.
4. A webhook receiver started on 127.0.0.1 and registered for every event.
5. The campaign run to its end by the embedded mode against the in-process simulator
   (scenario ``demo``), on a clock that starts on Tuesday 2 June 2026 at 11:00 in New York
   (08:00 on the west coast: every recipient's calling window is open) and runs
   :data:`SPEEDUP` times faster than real time.
6. The webhooks still due sent until every delivery is delivered or dead; the receiver stopped.
7. The reports written into the output directory.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import gevent
from sqlalchemy import Engine

from dialer.campaigns.files import load_campaign_file
from dialer.campaigns.service import create_campaign
from dialer.campaigns.status import campaign_status
from dialer.clock import Clock, FrozenClock, ScaledClock
from dialer.config import Settings
from dialer.demo.deliveries import DeliveryState, settle
from dialer.demo.display import Snapshot
from dialer.demo.outputs import WEBHOOKS, Written, write_outputs
from dialer.demo.receiver import WebhookReceiver
from dialer.demo.workspace import (
    DATABASE_NAME,
    SAMPLE_CAMPAIGN,
    demo_settings,
    fresh_database,
    prepare_out_dir,
    sample_path,
    sample_rows,
)
from dialer.embedded import EmbeddedRun, RunOptions, RunReport
from dialer.lists import ImportOptions, ImportResult, import_list
from dialer.webhooks import add_endpoint

#: A Tuesday, 11:00 in New York: 08:00 in Los Angeles, so every zone of the list may be called.
START = datetime(2026, 6, 2, 11, 0, tzinfo=ZoneInfo("America/New_York"))
SCENARIO = "demo"
#: Simulated seconds per real second. The run is CPU-bound (one process, about 40 calls and
#: their webhooks a second on 2 cores), so a faster clock would not end it sooner: the calls
#: would only run later on it (a lag of 40 ms is a second of AMD, IVR or queue time at 25×).
SPEEDUP = 25.0
LIST_NAME = "Demo contacts"
DEFAULT_SEED = 7
#: Real seconds the campaign may take, and then the outbox, before the demo gives up.
RUN_TIMEOUT = 300.0
DELIVERY_TIMEOUT = 120.0
LOG_FILE = "demo.log"


@dataclass(frozen=True)
class DemoOptions:
    out: Path
    rows: int | None = None
    seed: int = DEFAULT_SEED


@dataclass(frozen=True)
class WebhookTally:
    received: int
    verified: int
    rejected: int
    by_event: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoResult:
    out: Path
    campaign_id: int
    imported: ImportResult
    report: RunReport
    deliveries: DeliveryState
    webhooks: WebhookTally
    written: Written
    real_seconds: float


class DemoError(Exception):
    """The demo could not run; the message says why."""


def run_demo(
    options: DemoOptions,
    base: Settings,
    *,
    show: Callable[[Snapshot], None] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> DemoResult:
    started = time.monotonic()
    out = options.out
    prepare_out_dir(out)
    _log_to(out / LOG_FILE)
    engine, url = fresh_database(out)
    try:
        settings = demo_settings(base, url, out)
        list_path, rows = sample_rows(options.rows, out)
        imported = import_list(
            engine,
            list_path,
            ImportOptions(name=LIST_NAME, reject_types=frozenset(settings.import_reject_types)),
        )
        say(
            f"imported {imported.accepted:,} of {rows:,} contacts "
            f"({sum(imported.rejected.values()):,} rejected: "
            + ", ".join(f"{reason} {n}" for reason, n in sorted(imported.rejected.items()))
            + ")"
        )
        config = load_campaign_file(sample_path(SAMPLE_CAMPAIGN))
        campaign = create_campaign(engine, config, settings=settings, clock=FrozenClock(START))
        receiver = WebhookReceiver(out / WEBHOOKS).start()
        try:
            endpoint = add_endpoint(engine, receiver.url)
            receiver.trust(endpoint.secret)
            say(f"webhook receiver on {receiver.url}, signatures verified with standardwebhooks")
            report = _run_campaign(engine, settings, campaign.id, options, receiver, show)
            if report.timed_out:
                raise DemoError(f"the campaign did not finish within {RUN_TIMEOUT:.0f} s")
            status = report.campaigns.get(campaign.id)
            if status != "completed":  # Ctrl-C: the run stopped, the campaign is still running
                raise DemoError(
                    f"stopped before the campaign ended (it is {status}); "
                    f"what was done is in {out / DATABASE_NAME}"
                )
            assert report.ended_at is not None
            say("campaign finished; sending the webhooks still due")
            # simulated time goes on from the run's end, at the run's pace
            after = ScaledClock(1.0 / SPEEDUP, report.ended_at)

            def on_round(state: DeliveryState) -> None:
                if show is not None:
                    elapsed = time.monotonic() - started
                    snap = snapshot(engine, campaign.id, after, receiver, elapsed)
                    show(replace(snap, pending=state.unsettled, final=state.unsettled == 0))

            interrupted = threading.Event()
            handler = gevent.signal_handler(signal.SIGINT, interrupted.set)
            try:
                deliveries = settle(
                    engine, settings, after, timeout=DELIVERY_TIMEOUT, on_round=on_round,
                    stop=interrupted.is_set,
                )  # fmt: skip
            finally:
                handler.cancel()
            if interrupted.is_set():
                raise DemoError(
                    f"stopped while sending the last webhooks ({deliveries.unsettled:,} left)"
                )
        finally:
            receiver.stop()
        tally = WebhookTally(
            receiver.received, receiver.verified, receiver.rejected, dict(receiver.by_event)
        )
        written = write_outputs(engine, campaign.id, out, now=report.ended_at)
    finally:
        engine.dispose()
    return DemoResult(
        out, campaign.id, imported, report, deliveries, tally, written,
        time.monotonic() - started,
    )  # fmt: skip


def _run_campaign(
    engine: Engine,
    settings: Settings,
    campaign_id: int,
    options: DemoOptions,
    receiver: WebhookReceiver,
    show: Callable[[Snapshot], None] | None,
) -> RunReport:
    run_options = RunOptions(
        campaigns=(campaign_id,),
        until_done=True,
        simulate=SCENARIO,
        time_scale=1.0 / SPEEDUP,
        start_at=START,
        seed=options.seed,
        timeout=RUN_TIMEOUT,
    )
    started = time.monotonic()

    def progress(run: EmbeddedRun) -> None:
        if show is not None:
            elapsed = time.monotonic() - started
            show(snapshot(run.engine, campaign_id, run.clock, receiver, elapsed))

    return EmbeddedRun(engine, settings, run_options, progress=progress).run()


def snapshot(
    engine: Engine, campaign_id: int, clock: Clock, receiver: WebhookReceiver, real_seconds: float
) -> Snapshot:
    return Snapshot(
        at=clock.now(),
        real_seconds=real_seconds,
        status=campaign_status(engine, campaign_id, clock=clock),
        webhooks_received=receiver.received,
        webhooks_verified=receiver.verified,
        webhooks_by_event=dict(receiver.by_event),
    )


def _log_to(path: Path) -> None:
    """Warnings and errors go to a file: the display owns the terminal."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "demo_log", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.demo_log = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
