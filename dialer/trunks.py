"""Trunks (``DIALER_TRUNKS``): how a call leaves the switch, with limits of its own.

JSON, a list of objects::

    [{"name": "carrier", "dial": "sofia/gateway/carrier/{number}", "max_channels": 100,
      "cps": 10}]

Without it there is one trunk, ``default`` (``sofia/gateway/default/{number}``, no limits of
its own), which a campaign without ``trunk`` uses. Kept free of gevent and greenswitch so that
``dialer.config`` can import it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_TRUNK = "default"
DEFAULT_DIAL = "sofia/gateway/default/{number}"


class TrunkConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    dial: str = Field(description="Dial string template; {number} is the E.164 number.")
    max_channels: int | None = Field(default=None, ge=1, description="Concurrent calls.")
    cps: float | None = Field(default=None, gt=0, description="New calls per second.")

    @field_validator("dial")
    @classmethod
    def _check_dial(cls, value: str) -> str:
        from dialer.esl.originate import DialTemplate  # the same rules the originate applies

        try:
            DialTemplate(value)
        except ValueError:
            raise ValueError(
                "must be a dial string with {number} and no spaces, quotes or commas, "
                "e.g. sofia/gateway/carrier/{number}"
            ) from None
        return value


class TrunkConfigError(ValueError):
    """``DIALER_TRUNKS`` is malformed; the message names the entry and the field."""


def parse_trunks(text: str | None) -> list[TrunkConfig]:
    if text is None or not text.strip():
        return [TrunkConfig(name=DEFAULT_TRUNK, dial=DEFAULT_DIAL)]
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrunkConfigError(f"not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(data, list) or not data:
        raise TrunkConfigError('must be a non-empty JSON list of {"name": ..., "dial": ...}')
    trunks: list[TrunkConfig] = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise TrunkConfigError(f"entry {index}: must be an object")
        label = entry.get("name", index)
        try:
            trunks.append(TrunkConfig.model_validate(entry))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "entry"
            message = str(err['msg']).removeprefix("Value error, ")
            raise TrunkConfigError(f"trunk {label!r}: {where}: {message}") from None
    names = [t.name for t in trunks]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise TrunkConfigError(f"trunk names must be unique: {', '.join(duplicated)}")
    return trunks
