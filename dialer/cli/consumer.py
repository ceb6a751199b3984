"""``dialer consumer --node NAME``: the event consumer of one FreeSWITCH node.

A long-running gevent process (``dialer.cli`` monkey-patches for it before anything else is
imported). SIGTERM or SIGINT: the connection is closed, the events already received are
persisted, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal

import typer

from dialer.cli.context import fail, load_settings, open_engine


def consumer_command(
    node: str = typer.Option(..., "--node", help="A node of DIALER_FS_NODES, by name."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve /metrics on this port (default: DIALER_METRICS_PORT; unset: none).",
    ),
) -> None:
    """Turn one node's events into call records until SIGTERM/SIGINT."""
    settings = load_settings()
    nodes = {n.name: n for n in settings.nodes}
    if node not in nodes:
        known = ", ".join(sorted(nodes)) or "none"
        fail(f"unknown node {node!r} (DIALER_FS_NODES has: {known})")
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    log = logging.getLogger("dialer.consumer")

    import gevent
    import gevent.event

    from dialer.clock import get_clock
    from dialer.consumer import run_consumer
    from dialer.leases import make_backend

    engine = open_engine(settings)
    leases = make_backend(settings.redis_url)
    port = metrics_port if metrics_port is not None else settings.metrics_port
    if port is not None:
        from prometheus_client import start_http_server

        try:
            server, _thread = start_http_server(port)
        except OSError as exc:
            fail(f"--metrics-port {port}: {exc}")
        log.info("consumer metrics node=%s port=%d", node, server.server_port)
    from dialer.runtime import tune_gc

    tune_gc()
    stop = gevent.event.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop.set)
    log.info("consumer starting node=%s host=%s port=%d", node, nodes[node].host,
             nodes[node].port)
    run_consumer(nodes[node], engine, leases, clock=get_clock(), stop=stop)
    engine.dispose()
