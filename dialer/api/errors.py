"""Errors as ``application/problem+json`` (RFC 9457), never with a stack trace.

A route that speaks another contract (the AI tools webhook answers ``{status, message}``)
builds its own replies; everything else that goes wrong ends here.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem(status: int, detail: str, *, title: str | None = None) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _where(loc: tuple[object, ...] | list[object]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "request"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail))


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors())
    return problem(422, details or "invalid request")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # logged with its traceback here, answered without one
    log.exception("unhandled error method=%s path=%s", request.method, request.url.path)
    return problem(500, "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)
