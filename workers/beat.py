"""celery-redbeat's scheduler, made to survive the loss of Redis' data.

Redis holds only what may be rebuilt (DESIGN §2), but redbeat keeps both its lock and its
schedule there: after a Redis restart without persistence (or a flush) its lock extension
raises ``LockNotOwnedError`` and beat exits, and a beat that survived would find no entries
to send, since they are written only at start-up. This scheduler takes the lock again when
nobody else holds it and writes the schedule back; when another beat took the lock in the
meantime, it stands by (sends nothing) and tries again every loop, so there is still never
more than one beat sending ticks.
"""

from __future__ import annotations

import logging
from typing import Any

from redbeat import RedBeatScheduler  # type: ignore[import-untyped]
from redis.exceptions import LockError

log = logging.getLogger("dialer.beat")


class RecoveringRedBeatScheduler(RedBeatScheduler):  # type: ignore[misc]
    _standby = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self._standby and not self._take_lock_again():
            return float(self.max_interval)
        try:
            return float(super().tick(*args, **kwargs))
        except LockError:
            log.warning("beat lost its lock (Redis lost its data?); taking it again")
            if not self._take_lock_again():
                return float(self.max_interval)
            return 0.0

    def _take_lock_again(self) -> bool:
        if self.lock is None:
            return False
        if not self.lock.acquire(blocking=False):
            if not self._standby:
                log.warning("another beat holds the lock; standing by")
            self._standby = True
            return False
        self._standby = False
        # the schedule's entries went with the data: write them back
        self.setup_schedule()
        log.info("beat holds the lock again; schedule restored")
        return True
