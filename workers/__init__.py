"""Celery application and thin task entry points; the logic lives in :mod:`dialer`."""
