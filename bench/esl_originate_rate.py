"""Originates per second: our ESL adapter vs a minimal raw-socket client, same simulator,
same run. Prints both rates and their ratio (goal: adapter / raw >= 0.7).

    .venv/bin/python -m bench.esl_originate_rate [--calls 2000] [--concurrency 100]

Each originate is a ``bgapi originate`` with our Job-UUID, counted when its BACKGROUND_JOB
arrives. The simulator runs in a child process with its session limits lifted (as in
``bench.simulator_capacity``), so both clients get the CPU to themselves and the ratio is the
adapter's cost, not a CPU shared with the switch.
"""

from __future__ import annotations

import argparse
import time
import uuid

import gevent
import gevent.pool
import gevent.socket

from bench.simulator_capacity import free_port, start_simulator
from dialer.esl import DialTemplate, ESLClient, build_originate

TEMPLATE = DialTemplate("loopback/{number}/{context}", {"context": "default"})


def _command(
    attempt: str, template: DialTemplate = TEMPLATE, number: str = "15551234567"
) -> str:
    return build_originate(
        attempt_id=attempt, number=number, template=template, caller_id_number="15550001"
    ).command()


def adapter_rate(
    address: tuple[str, int],
    calls: int,
    concurrency: int,
    *,
    template: DialTemplate = TEMPLATE,
    number: str = "15551234567",
) -> float:
    client = ESLClient(*address, "ClueCon", command_timeout=30)
    client.connect(timeout=5)
    try:

        def one(_: int) -> bool:
            attempt = str(uuid.uuid4())
            job = client.bgapi(_command(attempt, template, number), job_uuid=attempt)
            return job.result(timeout=60).ok

        started = time.perf_counter()
        results = gevent.pool.Pool(concurrency).map(one, range(calls))
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    assert all(results), "some originates failed"
    return calls / elapsed


def raw_rate(address: tuple[str, int], calls: int, concurrency: int) -> float:
    """The least a client can do: write commands, count BACKGROUND_JOB frames."""
    sock = gevent.socket.create_connection(address)
    buf = b""

    def frame() -> bytes:
        nonlocal buf
        while b"\n\n" not in buf:
            buf += sock.recv(262144)
        head, _, buf = buf.partition(b"\n\n")
        length = 0
        for line in head.split(b"\n"):
            if line.startswith(b"Content-Length: "):
                length = int(line[16:])
        while len(buf) < length:
            buf += sock.recv(262144)
        body, buf = buf[:length], buf[length:]
        return head + b"\n\n" + body

    frame()  # auth/request
    sock.sendall(b"auth ClueCon\n\n")
    frame()
    sock.sendall(b"event plain BACKGROUND_JOB\n\n")
    frame()
    started = time.perf_counter()
    sent = done = 0
    while done < calls:
        while sent < calls and sent - done < concurrency:
            attempt = str(uuid.uuid4())
            sock.sendall(f"bgapi {_command(attempt)}\nJob-UUID: {attempt}\n\n".encode())
            sent += 1
        if b"BACKGROUND_JOB" in frame():
            done += 1
    elapsed = time.perf_counter() - started
    sock.close()
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    port = free_port()
    sim = start_simulator(port, time_scale=0.001, use_cli=False)
    try:
        address = ("127.0.0.1", port)
        raw = raw_rate(address, args.calls, args.concurrency)
        ours = adapter_rate(address, args.calls, args.concurrency)
    finally:
        sim.terminate()
        sim.wait(10)
    print(f"raw socket client : {raw:9.1f} originates/s")
    print(f"dialer.esl adapter: {ours:9.1f} originates/s")
    print(f"ratio adapter/raw : {ours / raw:9.2f}  (goal >= 0.70)")


if __name__ == "__main__":
    main()
