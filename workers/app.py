"""The Celery app: Redis broker when ``DIALER_REDIS_URL`` is set, in-memory otherwise."""

from __future__ import annotations

from celery import Celery

from dialer.config import get_settings


def create_app() -> Celery:
    settings = get_settings()
    broker = settings.redis_url or "memory://"
    app = Celery("dialer", broker=broker)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        # Messages carry ids, never state (DESIGN §2); results live in PostgreSQL.
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
    )
    return app


app = create_app()
