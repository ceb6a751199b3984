"""``POST /ai/tools``: the AI voice agent platform's tools webhook.

The platform's contract (not problem+json): ``{function, args, call_id, tenant_id}`` in,
``Authorization: Bearer <key>``, and ``{status, message}`` out within 9 s, ``message`` being
what the agent says. The keys are ``DIALER_AI_TOOLS_KEYS``; with none configured every
request is refused, so the route is never open by mistake.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dialer.ai.service import ToolRequest, ToolsService

log = logging.getLogger(__name__)

router = APIRouter(tags=["ai"])

MAX_BODY = 256 * 1024


def reply(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


def key_matches(token: str, keys: tuple[str, ...]) -> bool:
    """Compared in constant time with every key (no early exit reveals which was close)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(token.encode(), key.encode())
    return found


def parse_request(data: Any) -> ToolRequest | str:
    """The request, or what is wrong with it."""
    if not isinstance(data, dict):
        return "the body must be a JSON object {function, args, call_id, tenant_id}"
    function, args = data.get("function"), data.get("args", {})
    call_id, tenant_id = data.get("call_id"), data.get("tenant_id")
    if not isinstance(function, str) or not function:
        return "function: required, the tool's name"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return "args: must be a JSON object"
    if not isinstance(call_id, str) or not call_id:
        return "call_id: required, the call's id (X-Dialer-Attempt)"
    if tenant_id is not None and not isinstance(tenant_id, str):
        return "tenant_id: must be a string"
    return ToolRequest(function=function, args=args, call_id=call_id, tenant_id=tenant_id)


@router.post("/ai/tools")
async def ai_tools(request: Request) -> JSONResponse:
    keys: tuple[str, ...] = request.app.state.ai_tools_keys
    if not keys:
        log.warning("ai tools refused: no key configured (DIALER_AI_TOOLS_KEYS)")
        return reply(503, "the AI tools webhook is not configured (DIALER_AI_TOOLS_KEYS)")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key_matches(token.strip(), keys):
        log.warning("ai tools refused: bad or missing key client=%s",
                    request.client.host if request.client else "?")
        return reply(401, "Unauthorized: send Authorization: Bearer <key>")
    body = await request.body()
    if len(body) > MAX_BODY:
        return reply(413, f"the body must be at most {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        return reply(422, "the body must be JSON")
    parsed = parse_request(data)
    if isinstance(parsed, str):
        return reply(422, parsed)
    service: ToolsService = request.app.state.ai_tools
    outcome = await run_in_threadpool(service.call, parsed)
    return JSONResponse(outcome.body(), status_code=outcome.http_status)
