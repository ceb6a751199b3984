"""Fixtures of the API tests: the app on real PostgreSQL, the simulator, a CRM stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from dialer.ai.switch import NodeCommands
from dialer.api import create_app
from dialer.clock import FrozenClock
from dialer.config import Settings
from dialer.fs_nodes import NodeConfig
from tests.api.support import Crm, SimThread, crm_server

#: the app's clock: Tuesday 17:30 in New York, 2.5 h before the default window closes
NOW = "2026-12-01T22:30:00Z"
KEY = "csk_test_4f1c9a"
OTHER_KEY = "csk_rotated_77b2"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimThread]:
    sim = SimThread().start()
    yield sim
    sim.stop()


@pytest.fixture
def crm() -> Iterator[Crm]:
    with crm_server() as server:
        yield server


@pytest.fixture
def node_commands(simulator: SimThread) -> Iterator[NodeCommands]:
    """The test's own connection to the simulator (to place calls and look at them)."""
    commands = NodeCommands.from_nodes([NodeConfig(name="fs1", host="127.0.0.1",
                                                   port=simulator.port)])  # fmt: skip
    yield commands
    commands.close()


def settings_for(simulator: SimThread, postgres_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": postgres_url,
        "fs_nodes": f"fs1=esl://:ClueCon@127.0.0.1:{simulator.port}",
        "ai_tools_keys": f"{OTHER_KEY}, {KEY}",
        **extra,
    }
    return Settings(**values)


@pytest.fixture
def client(
    simulator: SimThread, postgres_url: str, pg_engine: Engine
) -> Iterator[TestClient]:
    settings = settings_for(simulator, postgres_url)
    http = httpx.Client()
    app = create_app(settings, engine=pg_engine, http=http, clock=FrozenClock(NOW),
                     crm_timeout=0.5)  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    http.close()


def tool_call(
    client: TestClient,
    function: str,
    call_id: str,
    args: dict[str, Any] | None = None,
    *,
    key: str | None = KEY,
    tenant_id: str | None = "acme",
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    body = {"function": function, "args": args or {}, "call_id": call_id, "tenant_id": tenant_id}
    return client.post("/ai/tools", json=body, headers=headers)
