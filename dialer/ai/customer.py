"""A customer-defined tool: the CRM request rendered from the tool's templates, and its answer
turned into what the agent speaks.

The agent platform waits 9 s for the whole reply, so the CRM gets at most 2 s to accept the
connection and ``timeout`` seconds (6 by default) to answer. Whatever goes wrong on the CRM's
side (a timeout, a refused connection, a 5xx) is answered with HTTP 200 and a spoken
fallback: the agent must say something, and the caller should not hear an error code.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from dialer.ai.context import CallContext
from dialer.ai.outcome import FALLBACK, Outcome, failed
from dialer.ai.templating import (
    TemplateError,
    Values,
    render_json,
    render_query,
    render_text,
)
from dialer.campaigns.callflow import HttpMethod, Tool

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 6.0
#: spoken after a 2xx without a message of the CRM's own
DONE = "All done."
MAX_MESSAGE = 500
#: the most of a CRM's answer that is read (its JSON ``message`` is all the dialer uses)
MAX_BODY = 64 * 1024


class _TooSlowError(Exception):
    """The CRM's answer kept coming past the whole budget (httpx times each read alone)."""


_BODY_METHODS = (HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH)


def build_request(
    client: httpx.Client, tool: Tool, call: CallContext, args: Mapping[str, Any]
) -> httpx.Request:
    """The CRM request for this call and these arguments (``TemplateError`` if a value
    cannot be carried, e.g. a newline in a header)."""
    recipient, values_call = call.template_values()
    values = Values(args=args, recipient=recipient, call=values_call)
    names = tool.parameter_names
    url = render_text(tool.api_endpoint, values, names, encode=True)
    headers = {name: render_text(text, values, names) for name, text in tool.headers.items()}
    params = render_query(tool.query_params, values, names)
    body: Any = None
    if tool.body_template is not None:
        body = render_json(tool.body_template, values, names)
    elif tool.http_method in _BODY_METHODS:
        body = dict(args)
    return client.build_request(
        tool.http_method.value,
        url,
        params=params or None,
        headers=headers,
        json=body if body is not None and tool.http_method is not HttpMethod.GET else None,
    )


def _read_body(response: httpx.Response, deadline: float) -> bytes:
    """At most ``MAX_BODY`` bytes of the answer, none of them after ``deadline``
    (``time.monotonic``): a CRM dripping its answer a byte at a time cannot hold the call."""
    body = bytearray()
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise _TooSlowError
        body += chunk
        if len(body) >= MAX_BODY:
            break
    return bytes(body[:MAX_BODY])


def _crm_message(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        text = data["message"].strip()
        return text[:MAX_MESSAGE] if text else None
    return None


def call_customer_tool(
    client: httpx.Client,
    tool: Tool,
    call: CallContext,
    args: Mapping[str, Any],
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> Outcome:
    try:
        request = build_request(client, tool, call, args)
    except (TemplateError, httpx.InvalidURL, ValueError) as exc:
        log.warning("customer tool request not built tool=%s call=%s error=%s",
                    tool.name, call.attempt_id, exc)
        return failed(error=f"request: {exc}")
    # connecting gets at most 2 s of the budget, so connect + answer stay inside the 9 s
    request.extensions["timeout"] = httpx.Timeout(timeout, connect=min(timeout, 2.0)).as_dict()
    deadline = time.monotonic() + timeout
    try:
        response = client.send(request, stream=True)
        try:
            body = _read_body(response, deadline)
        finally:
            response.close()
    except (httpx.TimeoutException, _TooSlowError):
        log.warning("customer tool timed out tool=%s call=%s after=%ss",
                    tool.name, call.attempt_id, timeout)
        return failed(error="timeout")
    except httpx.HTTPError as exc:
        log.warning("customer tool unreachable tool=%s call=%s error=%s",
                    tool.name, call.attempt_id, type(exc).__name__)
        return failed(error=f"{type(exc).__name__}: {exc}"[:300])
    code = response.status_code
    message = _crm_message(body)
    if 200 <= code < 300:
        return Outcome("success", message or DONE, detail={"httpStatus": code})
    log.warning("customer tool refused tool=%s call=%s status=%s", tool.name, call.attempt_id, code)
    if code >= 500:
        return failed(FALLBACK, httpStatus=code)
    return failed(message or FALLBACK, httpStatus=code)
