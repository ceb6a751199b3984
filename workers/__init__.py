"""Celery application and thin task entry points; the logic lives in :mod:`dialer`.

``celery -A workers worker -P gevent`` and ``celery -A workers beat`` find ``app`` here.
"""

from workers.app import app

__all__ = ["app"]
