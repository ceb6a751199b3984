"""``dialer simulator``: run the FreeSWITCH stand-in as a standalone process.

A plain function so the CLI can mount it with typer (``app.command("simulator")``).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import signal
from collections.abc import Sequence
from typing import Any

import gevent
from gevent.event import Event

from dialer.simulator import introspect
from dialer.simulator.modules import DEFAULT_MODULES
from dialer.simulator.server import DEFAULT_ACL, Simulator

_QUEUE = re.compile(r"[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+")


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def parse_acl(acl: str | None) -> tuple[str, ...]:
    """``CIDR[,CIDR…]`` → networks; none given keeps FreeSWITCH's loopback-only default."""
    if acl is None or not acl.strip():
        return DEFAULT_ACL
    nets = []
    for item in acl.split(","):
        item = item.strip()
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"--acl: {item!r} is not a CIDR network") from exc
        nets.append(item)
    return tuple(nets)


def build_simulator(
    listen: str = "127.0.0.1:8021",
    password: str = "ClueCon",
    scenario: str = "realistic",
    time_scale: float = 1.0,
    ledger: str | None = None,
    max_sessions: int = 1000,
    sessions_per_second: int = 30,
    seed: int | None = None,
    acl: str | None = None,
    without: Sequence[str] = (),
    queues: Sequence[str] = (),
) -> Simulator:
    """The simulator the command line describes, not started."""
    host, port = parse_listen(listen)
    unknown = sorted(set(without) - DEFAULT_MODULES)
    if unknown:
        known = ", ".join(sorted(DEFAULT_MODULES))
        raise ValueError(f"--without: {', '.join(unknown)} is not a module it loads ({known})")
    bad = [q for q in queues if not _QUEUE.fullmatch(q)]
    if bad:
        raise ValueError(f"--queue: {bad[0]!r} is not a queue name like sales@default")
    sim = Simulator(
        modules=DEFAULT_MODULES - set(without),
        acl=parse_acl(acl),
        password=password,
        scenario=scenario,
        time_scale=time_scale,
        host=host,
        port=port,
        ledger_path=ledger,
        max_sessions=max_sessions,
        sessions_per_second=sessions_per_second,
        seed=seed,
    )
    if queues:
        introspect.configure(sim.switch, queues=[introspect.DEFAULT_QUEUE, *queues])
    return sim


def run_simulator_cli(**options: Any) -> None:
    """Serve until SIGINT/SIGTERM; logs one INFO line per finished call. SIGUSR1 drops every
    ESL connection at once, without a disconnect notice (the fault a crashed switch or a
    broken network gives; calls go on). ``options`` are ``build_simulator``'s."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sim = build_simulator(**options)
    stop = Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, stop.set)
    log = logging.getLogger("dialer.simulator")

    def drop() -> None:
        log.warning("fault: dropping every ESL connection (SIGUSR1)")
        sim.faults.drop_connections()

    gevent.signal_handler(signal.SIGUSR1, drop)
    sim.start()
    try:
        stop.wait()
    finally:
        sim.stop()
        logging.getLogger("dialer.simulator").info("simulator stopped")
