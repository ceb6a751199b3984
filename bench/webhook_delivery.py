"""Webhook deliveries per second to a local receiver: the deliverer (claim, sign, POST, record,
in order per call) against bare POSTs of the same bodies with the same client and concurrency
(no database, no signature), same run. Prints both rates and their ratio.

    .venv/bin/python -m bench.webhook_delivery [--calls 2000] [--events 3] [--concurrency 16]

The receiver runs in a process of its own (a minimal keep-alive HTTP/1.1 responder on
asyncio, 200 to everything), so it is not what is measured. The outbox is a scratch
PostgreSQL database with ``--calls`` ended calls, ``--events`` events each, one endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.scratch_db import scratch_database
from dialer.clock import FrozenClock
from dialer.config import get_settings
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from dialer.db.models import CallAttempt, WebhookDelivery
from dialer.webhooks import EVENT_NAMES, add_endpoint
from dialer.webhooks.delivery import Deliverer
from dialer.webhooks.events import body_of
from dialer.webhooks.outbox import enqueue

T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


async def _serve(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def _receiver(port: int) -> None:
    asyncio.run(_serve(port))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fill(url: str, receiver: str, calls: int, events: int) -> list[str]:
    """The ended calls and their outbox rows; returns the bodies, for the baseline."""
    engine = make_engine(url)
    add_endpoint(engine, receiver)
    ids = [uuid.uuid4() for _ in range(calls)]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(CallAttempt),
            [
                {"id": aid, "attempt_no": 1, "state": "ended", "fs_node": "fs1",
                 "trunk": "default", "to_number": f"+1212555{n % 10_000:04d}",
                 "caller_id_number": "+12125550100", "options": {}, "metadata": {},
                 "originate_sent_at": T0, "started_at": T0, "answered_at": T0,
                 "ended_at": T0 + timedelta(seconds=30), "outcome": "completed",
                 "hangup_cause": "NORMAL_CLEARING", "billsec": 30}
                for n, aid in enumerate(ids)
            ],
        )  # fmt: skip
    names = [*EVENT_NAMES[: events - 1], EVENT_NAMES[-1]]
    for start in range(0, calls, 500):
        with Session(engine) as session, session.begin():
            enqueue(session, [(aid, names) for aid in ids[start : start + 500]], now=T0)
    with engine.connect() as conn:
        payloads = conn.execute(sa.select(WebhookDelivery.payload)).scalars().all()
    engine.dispose()
    return [body_of(p) for p in payloads]


def _raw_rate(url: str, bodies: list[str], concurrency: int) -> float:
    client = httpx.Client(timeout=10)
    chunks = [bodies[i::concurrency] for i in range(concurrency)]

    def post(chunk: list[str]) -> None:
        for body in chunk:
            client.post(url, content=body.encode(), headers={"content-type": "application/json"})

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, chunks))
    elapsed = time.perf_counter() - started
    client.close()
    return len(bodies) / elapsed


def _deliverer_rate(url: str, total: int, concurrency: int) -> tuple[float, int]:
    engine = make_engine(url)
    deliverer = Deliverer(
        engine, settings=get_settings(), clock=FrozenClock(T0), concurrency=concurrency
    )
    delivered = rounds = 0
    started = time.perf_counter()
    while delivered < total:
        report = deliverer.run_round()
        rounds += 1
        delivered += report.delivered
        if not report.claimed:
            break
    elapsed = time.perf_counter() - started
    deliverer.close()
    engine.dispose()
    return delivered / elapsed, rounds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--events", type=int, default=3, choices=range(1, 8))
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    port = _free_port()
    receiver = multiprocessing.Process(target=_receiver, args=(port,), daemon=True)
    receiver.start()
    url = f"http://127.0.0.1:{port}/hooks"
    _wait(lambda: _listening(port))
    try:
        with scratch_database() as db:
            upgrade(make_engine(db))
            bodies = _fill(db, url, args.calls, args.events)
            raw = _raw_rate(url, bodies, args.concurrency)
            ours, rounds = _deliverer_rate(db, len(bodies), args.concurrency)
    finally:
        receiver.terminate()
    print(f"events: {len(bodies)} ({args.calls} calls x {args.events}), "
          f"concurrency {args.concurrency}")  # fmt: skip
    print(f"bare POSTs:  {raw:8.0f} /s")
    print(f"deliverer:   {ours:8.0f} /s  ({rounds} rounds)")
    print(f"ratio deliverer / bare: {ours / raw:.2f}")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(ready: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError("the receiver did not start")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
