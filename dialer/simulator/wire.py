"""Server-side Event Socket wire encoding, byte-compatible with FreeSWITCH 1.10.12.

The simulator keeps its own encoder (it must not depend on the client adapter): every frame
shape here was copied from the captures in ``tests/data/freeswitch``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

Headers = Sequence[tuple[str, str]]

GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

# switch_url_encode(): these printable characters are escaped; '/ ( ) , ' ! * ~ - _ .' are not.
_ESCAPED = frozenset(b' \r\n#%&+:;<=>?@[\\]^`{|}"')
_UPPER_HEX = frozenset(b"0123456789ABCDEF")


def url_encode(value: str) -> str:
    """FreeSWITCH's plain-event value encoding, including its ``%XX`` pass-through quirk.

    An existing ``%`` followed by two *upper-case* hex digits is copied as is (so the value is
    decoded lossily by every client); any other ``%`` becomes ``%25``.
    """
    raw = value.encode("utf-8")
    out: list[str] = []
    for i, byte in enumerate(raw):
        if (
            byte == 0x25
            and i + 2 < len(raw)
            and raw[i + 1] in _UPPER_HEX
            and raw[i + 2] in _UPPER_HEX
        ):
            out.append("%")
        elif byte < 0x20 or byte > 0x7E or byte in _ESCAPED:
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def _frame(headers: Headers, body: bytes = b"") -> bytes:
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    return head.encode("utf-8") + b"\n" + body


def auth_request() -> bytes:
    return _frame([("Content-Type", "auth/request")])


def command_reply(text: str, extra: Headers = ()) -> bytes:
    return _frame([("Content-Type", "command/reply"), ("Reply-Text", text), *extra])


def api_response(body: str) -> bytes:
    data = body.encode("utf-8")
    return _frame([("Content-Type", "api/response"), ("Content-Length", str(len(data)))], data)


def disconnect_notice(extra: Headers = (), body: bytes = GOODBYE) -> bytes:
    """``extra`` carries myevents/linger headers, which real FreeSWITCH puts before the length."""
    headers = [("Content-Type", "text/disconnect-notice"), *extra]
    return _frame([*headers, ("Content-Length", str(len(body)))], body)


def log_data(level: int, where: tuple[str, str, int], user_data: str, line: str) -> bytes:
    """A ``log/data`` frame as a listener with ``log <level>`` receives it (capture 16)."""
    data = line.encode("utf-8")
    return _frame(
        [
            ("Content-Type", "log/data"),
            ("Content-Length", str(len(data))),
            ("Log-Level", str(level)),
            ("Text-Channel", "3"),
            ("Log-File", where[0]),
            ("Log-Func", where[1]),
            ("Log-Line", str(where[2])),
            ("User-Data", user_data),
        ],
        data,
    )


def rude_rejection() -> bytes:
    body = b"Access Denied, go away.\n"
    return _frame(
        [("Content-Type", "text/rude-rejection"), ("Content-Length", str(len(body)))], body
    )


def event_plain(headers: Headers, body: str | None = None) -> bytes:
    """``text/event-plain``: outer length/type, then url-encoded lines, then the inner body."""
    lines = "".join(f"{name}: {url_encode(value)}\n" for name, value in headers)
    if body is None:
        payload = (lines + "\n").encode("utf-8")
    else:
        data = body.encode("utf-8")
        payload = (lines + f"Content-Length: {len(data)}\n\n").encode("utf-8") + data
    return _outer("text/event-plain", payload)


def event_json(headers: Headers, body: str | None = None) -> bytes:
    """``text/event-json``: one object, every value a string, raw UTF-8, no trailing newline."""
    pairs = list(headers)  # duplicated names stay duplicated, as cJSON writes them
    if body is not None:
        pairs += [("Content-Length", str(len(body.encode("utf-8")))), ("_body", body)]
    members = ",".join(f"{_json_str(k)}:{_json_str(v)}" for k, v in pairs)
    payload = ("{" + members + "}").encode("utf-8")
    return _outer("text/event-json", payload)


def _json_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _outer(content_type: str, payload: bytes) -> bytes:
    return _frame([("Content-Length", str(len(payload))), ("Content-Type", content_type)], payload)


def split_command(raw: bytes) -> tuple[str, list[tuple[str, str]]]:
    """A client command block (without its blank line) → first line and header lines."""
    text = raw.decode("utf-8", "replace")
    first, _, rest = text.partition("\n")
    headers: list[tuple[str, str]] = []
    for line in rest.split("\n"):
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return first.rstrip("\r"), headers
