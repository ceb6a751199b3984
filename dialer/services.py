"""The long-lived parts one process shares: engine, lease backend, node pool, originator.

Celery workers build one set per process (after the fork in the prefork pool; the gevent
pool has one process), the embedded mode builds one for ``dialer run``. Nothing here
starts a connection until it is first used.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from dialer.clock import Clock, get_clock
from dialer.config import Settings, get_settings
from dialer.db.engine import make_engine
from dialer.leases import LeaseBackend, make_backend
from dialer.originate.pool import NodePool
from dialer.originate.worker import Originator

if TYPE_CHECKING:
    from dialer.webhooks.delivery import Deliverer


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        engine: Engine | None = None,
        leases: LeaseBackend | None = None,
        pool: NodePool | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or get_clock()
        if engine is not None:
            self.__dict__["engine"] = engine
        if leases is not None:
            self.__dict__["leases"] = leases
        if pool is not None:
            self.__dict__["pool"] = pool

    @cached_property
    def engine(self) -> Engine:
        return make_engine(
            self.settings.effective_database_url, pool_size=self.settings.db_pool_size
        )

    @cached_property
    def leases(self) -> LeaseBackend:
        return make_backend(self.settings.redis_url)

    @cached_property
    def pool(self) -> NodePool:
        return NodePool(self.settings.nodes)

    @cached_property
    def originator(self) -> Originator:
        return Originator(self.engine, self.leases, self.pool, self.settings, clock=self.clock)

    @cached_property
    def deliverer(self) -> Deliverer:
        from dialer.webhooks.delivery import Deliverer

        return Deliverer(self.engine, settings=self.settings, clock=self.clock)

    def close(self) -> None:
        if "deliverer" in self.__dict__:
            self.deliverer.close()
        if "pool" in self.__dict__:
            self.pool.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


_lock = threading.Lock()
_services: tuple[int, Services] | None = None


def process_services() -> Services:
    """This process's services, built on first use (a forked child builds its own)."""
    global _services
    with _lock:
        if _services is None or _services[0] != os.getpid():
            _services = (os.getpid(), Services(get_settings()))
        return _services[1]


def set_process_services(services: Services | None) -> None:
    global _services
    with _lock:
        _services = None if services is None else (os.getpid(), services)
