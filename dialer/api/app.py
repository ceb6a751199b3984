"""The product's one HTTP app: ``create_app(settings)`` wires the library behind its routers.

Everything a route needs is built here and kept on ``app.state`` (the database engine, a
kept Event Socket connection per node, one HTTP client for CRM calls); tests pass their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine

from dialer.ai.customer import DEFAULT_TIMEOUT
from dialer.ai.owned import Env
from dialer.ai.service import ToolsService
from dialer.ai.switch import NodeCommands, SwitchCommands
from dialer.api import ai_tools, errors, health
from dialer.clock import Clock, get_clock
from dialer.config import Settings
from dialer.db.engine import make_engine

#: seconds one Event Socket command of a tool may take (several fit in the 9 s budget)
NODE_COMMAND_TIMEOUT = 2.0


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    switch: SwitchCommands | None = None,
    http: httpx.Client | None = None,
    clock: Clock | None = None,
    crm_timeout: float = DEFAULT_TIMEOUT,
) -> FastAPI:
    engine = engine or make_engine(settings.effective_database_url)
    nodes = None
    if switch is None:
        nodes = NodeCommands.from_nodes(settings.nodes, timeout=NODE_COMMAND_TIMEOUT)
        switch = nodes
    own_http = http is None
    client = http or httpx.Client(follow_redirects=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if nodes is not None:
            nodes.close()
        if own_http:
            client.close()

    app = FastAPI(
        title="dialer",
        description="Outbound campaign dialer for FreeSWITCH.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.state.settings = settings
    app.state.engine = engine
    app.state.ai_tools_keys = settings.ai_tools_key_list
    env = Env(engine, switch, clock or get_clock(), tuple(settings.calling_rules))
    app.state.ai_tools = ToolsService(engine, env, client, crm_timeout=crm_timeout)
    app.include_router(health.router)
    app.include_router(ai_tools.router)
    return app


def app_from_environment() -> FastAPI:
    """The app of ``DIALER_*`` settings: uvicorn's factory in every worker process."""
    from dialer.config import get_settings

    return create_app(get_settings())
