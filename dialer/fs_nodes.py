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
        return [_named_spec(name, spec) for name, spec in data.items()]
    if not isinstance(data, list):
        raise NodeConfigError(
            f"node list JSON must be a list of objects or an object of objects, not {_kind(data)}"
        )
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise NodeConfigError(
                f"FreeSWITCH node #{index + 1}: expected an object, got {_kind(item)}"
            )
    return data


def _named_spec(name: str, spec: object) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise NodeConfigError(f"FreeSWITCH node {name}: expected an object, got {_kind(spec)}")
    if "name" in spec and spec["name"] != name:
        raise NodeConfigError(
            f"FreeSWITCH node {name}: its key and its name {spec['name']!r} differ"
        )
    return {**spec, "name": name}


def _kind(value: object) -> str:
    """A JSON type name for messages (never the value: it may be a password)."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _from_url(entry: str) -> dict[str, Any]:
    name, eq, url = entry.partition("=")
    if not eq or "://" not in url:
        raise NodeConfigError(f"expected name=esl://host[:port], got {entry!r}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise NodeConfigError(f"node {name}: {exc}") from None
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
