"""What a tool call comes to: the reply the agent speaks, and what the call's record keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: spoken when the dialer or the CRM could not do what was asked (the agent must say something)
FALLBACK = "Sorry, I couldn't do that right now."


@dataclass(frozen=True)
class Outcome:
    """``status`` and ``message`` go back to the agent (``message`` is spoken); ``keys`` are
    merged into the call's AI record; ``detail`` is kept in the tool call's entry only."""

    status: str
    message: str
    http_status: int = 200
    keys: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        return {"status": self.status, "message": self.message}


class ToolRefused(Exception):  # noqa: N818 - a refusal, answered with its status code
    """The request cannot be carried out as sent (bad arguments, the call is gone)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message


def failed(message: str = FALLBACK, **detail: Any) -> Outcome:
    return Outcome("error", message, detail=detail)
