"""The adapter's Prometheus metrics (DESIGN §11), read from the default registry while a
client runs against the simulator."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from dialer.esl import CommandTimeoutError
from dialer.simulator import Simulator
from tests.esl.conftest import make_client
from tests.esl.waiting import wait_until


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_connection_events_timeouts_and_jobs_are_counted(sim: Simulator) -> None:
    node = f"fs-{uuid.uuid4().hex[:8]}"
    client = make_client(sim, name=node)
    assert _value("dialer_esl_connected", node=node) == 0
    client.connect(timeout=3)
    try:
        assert _value("dialer_esl_connected", node=node) == 1
        client.subscribe("CHANNEL_PARK")
        for _ in range(3):
            sim.faults.inject_event([("Event-Name", "CHANNEL_PARK")])
        assert wait_until(
            lambda: _value("dialer_esl_events_total", node=node, event="CHANNEL_PARK") == 3
        )

        sim.faults.delay_jobs(0.5)
        job = client.bgapi("status")
        assert _value("dialer_esl_jobs_pending", node=node) == 1
        job.result(timeout=3)
        assert _value("dialer_esl_jobs_pending", node=node) == 0
        assert wait_until(
            lambda: _value("dialer_esl_events_total", node=node, event="BACKGROUND_JOB") == 1
        )

        with pytest.raises(CommandTimeoutError):
            client.api("msleep 500", timeout=0.05)
        assert _value("dialer_esl_command_timeouts_total", node=node) == 1

        assert _value("dialer_esl_reconnects_total", node=node) in (None, 0)
        # The reconnect may come within milliseconds: read the gauge as each state is set.
        gauge_by_state: list[tuple[str, float | None]] = []
        client.add_state_callback(
            lambda state, error: gauge_by_state.append(
                (state.value, _value("dialer_esl_connected", node=node))
            )
        )
        sim.faults.drop_connections()
        assert wait_until(lambda: client.connected and len(gauge_by_state) >= 3, 3)
        assert gauge_by_state[:3] == [("disconnected", 0), ("connecting", 0), ("connected", 1)]
        assert _value("dialer_esl_connected", node=node) == 1
        assert _value("dialer_esl_reconnects_total", node=node) == 1
    finally:
        client.close()
    assert _value("dialer_esl_connected", node=node) == 0
