"""One tool call of an AI voice agent, answered: ``POST /ai/tools`` maps onto :meth:`ToolsService.
call`.

The call is the attempt ``call_id`` names (the agent got it in ``X-Dialer-Attempt``). Its
tools are the dialer's own (:mod:`dialer.ai.owned`) and those its agent defines. Every tool
call made on a known call — carried out, refused or failed — is appended to the call's AI
record (``toolCalls``) with how long it took, and logged in one line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from sqlalchemy import Engine

from dialer.ai.catalog import SCHEMAS
from dialer.ai.context import CallContext, load_call
from dialer.ai.customer import DEFAULT_TIMEOUT, call_customer_tool
from dialer.ai.outcome import Outcome, ToolRefused
from dialer.ai.owned import OWNED, Env
from dialer.ai.record import record_tool_call
from dialer.campaigns.callflow import Tool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolRequest:
    """The agent platform's request: ``{function, args, call_id, tenant_id}``."""

    function: str
    args: Mapping[str, Any]
    call_id: str
    tenant_id: str | None = None


def _refusal(status: int, message: str) -> Outcome:
    return Outcome("error", message, http_status=status)


def _schema_problem(schema: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """The first way ``args`` break ``schema``, as ``args.path: message``; None if valid."""
    errors = sorted(
        Draft202012Validator(schema).iter_errors(args), key=lambda e: (len(e.path), e.message)
    )
    if not errors:
        return None
    error: ValidationError = errors[0]
    where = ".".join(str(p) for p in error.path)
    if error.validator == "oneOf" and not where:
        options: list[dict[str, Any]] = list(error.validator_value)  # type: ignore[arg-type]
        wanted = [" or ".join(s.get("required", [])) for s in options]
        return f"args: give exactly one of {', '.join(w for w in wanted if w)}"
    return f"args{'.' + where if where else ''}: {error.message}"


class ToolsService:
    def __init__(
        self,
        engine: Engine,
        env: Env,
        http: httpx.Client,
        *,
        crm_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.engine = engine
        self.env = env
        self.http = http
        self.crm_timeout = crm_timeout

    def call(self, request: ToolRequest) -> Outcome:
        started = time.monotonic()
        call = load_call(self.engine, request.call_id)
        if call is None or not self._same_tenant(call, request.tenant_id):
            outcome = _refusal(404, f"unknown call {request.call_id!r}")
            self._log(request, outcome, started)
            return outcome
        outcome = self._run(call, request)
        at = self.env.clock.now()
        entry: dict[str, Any] = {
            "name": request.function,
            "args": dict(request.args),
            "status": outcome.status,
            "message": outcome.message,
            "at": at.isoformat(),
            "durationMs": round((time.monotonic() - started) * 1000),
        }
        if outcome.http_status != 200:
            entry["httpStatus"] = outcome.http_status
        entry.update(outcome.detail)
        with self.engine.begin() as conn:
            record_tool_call(conn, call.attempt_id, entry, outcome.keys)
        self._log(request, outcome, started)
        return outcome

    @staticmethod
    def _same_tenant(call: CallContext, tenant_id: str | None) -> bool:
        """A call of another company is not found (its existence is not told either)."""
        return tenant_id is None or call.company_id is None or call.company_id == tenant_id

    def _run(self, call: CallContext, request: ToolRequest) -> Outcome:
        if call.over:
            return _refusal(409, f"call {call.attempt_id} has ended")
        if call.state == "queued":
            return _refusal(409, f"call {call.attempt_id} has not been placed yet")
        name = request.function
        owned = OWNED.get(name)
        tool: Tool | None = None
        if owned is None:
            agent = call.agent
            tool = agent.tool(name) if agent is not None else None
            if tool is None:
                return _refusal(404, f"unknown tool {name!r} (this call has: "
                                     f"{', '.join(self.tool_names(call))})")
        schema = SCHEMAS[name] if owned is not None else tool.parameters  # type: ignore[union-attr]
        problem = _schema_problem(schema, request.args)
        if problem is not None:
            return _refusal(422, problem)
        try:
            if owned is not None:
                return owned(call, request.args, self.env)
            assert tool is not None
            return call_customer_tool(
                self.http, tool, call, request.args, timeout=self.crm_timeout
            )
        except ToolRefused as refused:
            return _refusal(refused.http_status, refused.message)

    @staticmethod
    def tool_names(call: CallContext) -> list[str]:
        agent = call.agent
        own = [tool.name for tool in agent.tools] if agent is not None else []
        return [*sorted(OWNED), *own]

    @staticmethod
    def _log(request: ToolRequest, outcome: Outcome, started: float) -> None:
        log.info(
            "ai tool call=%s tool=%s status=%s http=%s ms=%d",
            request.call_id,
            request.function,
            outcome.status,
            outcome.http_status,
            (time.monotonic() - started) * 1000,
        )
