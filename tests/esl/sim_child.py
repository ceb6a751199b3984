"""The simulator in a child process, for tests whose client may spin a CPU or block a hub.

``python -m tests.esl.sim_child truncate`` listens on a free port, prints it, waits for the
first authenticated connection, sends it ``faults.send_truncated_frame()`` and exits after a
few seconds (or when stdin closes), so a stuck client can never keep it alive.
"""

from __future__ import annotations

import sys
import time

import gevent

from dialer.simulator import Simulator

LIFETIME = 5.0


def main(fault: str) -> int:
    with Simulator(scenario="all-answer", time_scale=0.01, port=0, heartbeat_seconds=0) as sim:
        print(sim.address[1], flush=True)
        deadline = time.monotonic() + LIFETIME
        while not any(c.authed for c in sim.switch.connections):
            if time.monotonic() > deadline:
                return 2
            gevent.sleep(0.005)
        gevent.sleep(0.05)
        if fault == "truncate":
            sim.faults.send_truncated_frame()
        gevent.sleep(max(0.0, deadline - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
