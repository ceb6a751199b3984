"""Fixtures for the ESL adapter tests: a scripted fake FreeSWITCH on a real TCP socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dialer.esl import Backoff, ESLClient
from tests.esl.fakeserver import FakeFreeSWITCH


@pytest.fixture
def fake() -> Iterator[FakeFreeSWITCH]:
    with FakeFreeSWITCH() as server:
        yield server


@pytest.fixture
def client(fake: FakeFreeSWITCH) -> Iterator[ESLClient]:
    host, port = fake.address
    esl = ESLClient(
        host,
        port,
        "ClueCon",
        connect_timeout=1.0,
        command_timeout=1.0,
        backoff=Backoff(base=0.01, cap=0.05),
    )
    esl.connect(timeout=3)
    yield esl
    esl.close()
