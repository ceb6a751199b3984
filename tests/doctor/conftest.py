"""A FreeSWITCH simulator set up like a node where ``freeswitch/`` was installed as its README
says, on a real TCP port, and the node configuration that points at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dialer.fs_nodes import NodeConfig
from dialer.simulator import Simulator
from dialer.simulator.modules import DEFAULT_MODULES

# the shipped flow runs a Lua script: an installed node has mod_lua (and mod_httapi is usual)
INSTALLED = DEFAULT_MODULES | {"mod_lua"}


def start(**options: Any) -> Simulator:
    settings: dict[str, Any] = {
        "scenario": "all-answer", "time_scale": 0.01, "port": 0, "heartbeat_seconds": 0,
        "modules": INSTALLED,
    }  # fmt: skip
    settings.update(options)
    return Simulator(**settings).__enter__()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    server = start()
    yield server
    server.stop()


def node_of(sim: Simulator, **options: Any) -> NodeConfig:
    host, port = sim.address
    return NodeConfig.model_validate(
        {"name": "fs1", "host": host, "port": port, "password": "ClueCon", **options}
    )
