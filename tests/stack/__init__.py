"""The distributed stack as real processes: simulator, Celery workers, beat, consumer."""
