"""The Celery app: Redis broker when ``DIALER_REDIS_URL`` is set, in-memory otherwise.

Queues: ``originate`` (calls), ``scheduler`` (the tick and the sweeper), ``webhooks``;
``celery -A workers worker -P gevent`` serves them all, ``-Q originate`` narrows it.
``celery -A workers beat`` runs the tick through celery-redbeat, whose Redis lock makes sure
only one beat ever schedules, however many are started.
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from dialer.config import get_settings

QUEUES = ("originate", "scheduler", "webhooks")
TICK_SECONDS = 1.0
#: Admission rounds within one tick (see workers.tasks.scheduler_tick).
ADMISSION_SECONDS = 0.2
SWEEP_SECONDS = 15.0

# A message is redelivered when it has not been acknowledged within this many seconds.
# Tasks ack late (after they ran), so a worker killed mid-task has its message redelivered;
# an originate task takes milliseconds (it returns once the switch accepted the job), so five
# minutes only ever expires for a dead worker. Tasks never use countdown/ETA: a delayed task
# sits unacknowledged and would be redelivered — a duplicate — once it outlived this timeout.
VISIBILITY_TIMEOUT = 300


def create_app() -> Celery:
    settings = get_settings()
    broker = settings.redis_url or "memory://"
    app = Celery("dialer", broker=broker, include=["workers.tasks"])
    app.conf.update(
        # acks_late + reject_on_worker_lost: a task whose worker died runs again, and the
        # attempt's compare-and-set turns that second run into a no-op when the first one
        # had already claimed it. Duplicates are safe; losses would not be.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        # Messages carry ids, never state (DESIGN §2); results live in PostgreSQL.
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        task_queues=[Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        task_default_queue="originate",
        task_routes={
            "dialer.originate": {"queue": "originate"},
            "dialer.originate_batch": {"queue": "originate"},
            "dialer.scheduler.tick": {"queue": "scheduler"},
            "dialer.sweep": {"queue": "scheduler"},
            "dialer.webhooks.deliver": {"queue": "webhooks"},
        },
        worker_hijack_root_logger=False,
        beat_schedule={
            "scheduler-tick": {
                "task": "dialer.scheduler.tick",
                "schedule": TICK_SECONDS,
                # a tick that waited longer than its period is stale: the next one replaces it
                "options": {"expires": TICK_SECONDS * 2},
            },
            "sweep": {
                "task": "dialer.sweep",
                "schedule": SWEEP_SECONDS,
                "options": {"expires": SWEEP_SECONDS},
            },
            "webhooks": {
                "task": "dialer.webhooks.deliver",
                "schedule": TICK_SECONDS,
                "options": {"expires": TICK_SECONDS * 2},
            },
        },
    )
    if settings.redis_url:
        app.conf.update(
            beat_scheduler="workers.beat:RecoveringRedBeatScheduler",
            redbeat_redis_url=settings.redis_url,
            redbeat_key_prefix="dialer:redbeat:",
            # beat wakes at least every tick; a beat that died frees the lock within 10 s
            beat_max_loop_interval=TICK_SECONDS,
            redbeat_lock_timeout=10,
        )
    return app


app = create_app()
