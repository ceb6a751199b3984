"""Fixtures for the ESL adapter tests: the FreeSWITCH simulator on a real TCP socket, and a
client of it in each event format (``plain`` and ``json`` are both first-class paths)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dialer.esl import Backoff, ESLClient
from dialer.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        password="ClueCon", scenario="all-answer", time_scale=0.01, port=0, ledger_path=None
    ) as server:
        yield server


def make_client(sim: Simulator, **options: Any) -> ESLClient:
    """A client of ``sim`` with test-sized timeouts and backoff (not started)."""
    settings: dict[str, Any] = {
        "command_timeout": 2.0,
        "connect_timeout": 1.0,
        "backoff": Backoff(base=0.01, cap=0.05),
    }
    settings.update(options)
    return ESLClient(*sim.address, "ClueCon", **settings)


@pytest.fixture(params=["plain", "json"])
def event_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(sim: Simulator, event_format: str) -> Iterator[ESLClient]:
    esl = make_client(sim, event_format=event_format)
    esl.connect(timeout=3)
    yield esl
    esl.close()
