"""FreeSWITCH node configuration (``DIALER_FS_NODES``), kept free of gevent and greenswitch
so that ``dialer.config`` can import it; ``dialer.esl.nodes`` re-exports it.

Configuration comes from one setting (e.g. ``DIALER_FS_NODES``), as JSON::

    [{"name": "fs1", "host": "10.0.0.5", "password": "s3cret", "max_channels": 300,
      "sessions_per_second": 30}]

or as a compact list of ``name=esl://[:password@]host[:port][?max_channels=N&sps=M]``
separated by commas or blanks (the password URL-encoded)::

    fs1=esl://:s3cret@10.0.0.5:8021?max_channels=300&sps=30, fs2=esl://10.0.0.6
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

if TYPE_CHECKING:
    from dialer.esl.client import ESLClient

DEFAULT_PORT = 8021


class NodeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    host: str = Field(min_length=1)
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    password: SecretStr = SecretStr("ClueCon")
    max_channels: int = Field(default=1000, ge=1, description="Calls this node may carry.")
    sessions_per_second: float = Field(
        default=30.0, gt=0, description="Its sessions-per-second limit (FreeSWITCH default 30)."
    )

    def client(self, **options: Any) -> ESLClient:
        """An ``ESLClient`` for this node (not started)."""
        from dialer.esl.client import ESLClient

        return ESLClient(
            self.host, self.port, self.password.get_secret_value(), name=self.name, **options
        )


class NodeConfigError(ValueError):
    """The node list is malformed; the message names the entry."""


_QUERY_KEYS = {
    "max_channels": "max_channels",
    "sps": "sessions_per_second",
    "sessions_per_second": "sessions_per_second",
}


def parse_nodes(text: str) -> list[NodeConfig]:
    """Parse the node list (JSON or ``name=esl://...`` entries); names must be unique."""
    text = text.strip()
    if not text:
        return []
    raw: list[dict[str, Any]]
    if text[0] in "[{":
        raw = _from_json(text)
    else:
        raw = [_from_url(entry) for entry in re.split(r"[\s,]+", text) if entry]
    nodes: list[NodeConfig] = []
    for index, item in enumerate(raw):
        try:
            nodes.append(NodeConfig.model_validate(item))
        except ValidationError as exc:
            label = item.get("name", f"#{index + 1}") if isinstance(item, dict) else index + 1
            problems = "; ".join(
                f"{'.'.join(str(part) for part in err['loc']) or 'entry'}: {err['msg']}"
                for err in exc.errors(include_input=False)
            )  # without the input values: they may hold a password
            raise NodeConfigError(f"FreeSWITCH node {label}: {problems}") from None
    names = [n.name for n in nodes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise NodeConfigError(f"duplicate FreeSWITCH node names: {duplicates}")
    return nodes


def _from_json(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise NodeConfigError(f"node list is not valid JSON: {exc}") from None
    if isinstance(data, dict):  # {"fs1": {...}, "fs2": {...}}
        data = [{"name": name, **(spec or {})} for name, spec in data.items()]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise NodeConfigError("node list JSON must be a list of objects or an object of objects")
    return data


def _from_url(entry: str) -> dict[str, Any]:
    name, eq, url = entry.partition("=")
    if not eq or "://" not in url:
        raise NodeConfigError(f"expected name=esl://host[:port], got {entry!r}")
    parts = urlsplit(url)
    if parts.scheme != "esl" or not parts.hostname:
        raise NodeConfigError(f"node {name}: expected esl://host[:port], got {url!r}")
    try:
        port = DEFAULT_PORT if parts.port is None else parts.port  # ":0" is not "unset"
    except ValueError as exc:
        raise NodeConfigError(f"node {name}: {exc}") from None
    item: dict[str, Any] = {"name": name, "host": parts.hostname, "port": port}
    if parts.password is not None:
        item["password"] = unquote(parts.password)
    for key, values in parse_qs(parts.query, keep_blank_values=True, strict_parsing=False).items():
        if key not in _QUERY_KEYS:
            raise NodeConfigError(f"node {name}: unknown option {key!r}")
        item[_QUERY_KEYS[key]] = values[-1]
    return item
