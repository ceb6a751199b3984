"""Parsing ``originate`` arguments the way FreeSWITCH 1.10.12 does.

The model follows the C code and is held to the measured table of the fixtures README
(``tests/esl/test_originate.py`` checks every row):

* ``switch_separate_string(cmd, ' ')`` — ``separate_string_blank_delim``: split on blanks
  outside single quotes, a backslash escapes the next character; each part then goes through
  ``cleanup_separated_string`` (quotes dropped, ``\\n \\r \\t \\s`` and escaped quotes and
  delimiters unescaped, blanks trimmed). So an unquoted space inside ``{…}`` breaks the dial
  string (``-ERR DESTINATION_OUT_OF_ORDER``).
* The first ``}`` ends the variable block, quoted or not.
* The block is split on commas (``separate_string_char_delim``: ``\\,`` and quotes protect a
  comma only where the quote has a partner; a quote pair is dropped), each item on its first
  ``=``; an item without ``=`` is dropped.
* ``&app(arg)``: as mod_commands' ``originate_function``, the first ``)`` ends the
  argument and the first ``(`` starts it — so ``&playback(tone_stream://%(2000,0,440))``
  runs ``playback`` with ``tone_stream://%(2000,0,440`` in FreeSWITCH too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dialer.simulator.channel import Dial

KNOWN_TECH = frozenset({"loopback", "sofia", "user", "verto", "freetdm", "error", "null"})
ESC = "\\"
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


class OriginateError(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass
class Originate:
    variables: dict[str, str]
    dial: Dial
    app: str  # "park", "hangup", or a dialplan extension
    app_arg: str = ""
    dialplan: bool = False  # True when the app part is "<ext> [XML] [context]"
    context: str = "default"
    duplicates: list[str] = field(default_factory=list)
    error_cause: str | None = None  # error/<CAUSE> endpoint


# --- switch_separate_string ----------------------------------------------------------------


def _cleanup(text: str, delim: str | None) -> str:
    """``cleanup_separated_string``: strip quotes, unescape, trim blanks."""
    i = 0
    while i < len(text) and text[i] == " ":
        i += 1
    out: list[str] = []
    end = 0  # length of ``out`` that survives (trailing blanks outside quotes are dropped)
    inside = False
    while i < len(text):
        char = text[i]
        if char == ESC and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "'\"" or (delim and nxt == delim) or nxt == ESC or nxt in _UNESCAPE:
                out.append(_UNESCAPE.get(nxt, nxt))
                end = len(out)
                i += 2
                continue
        if char == "'" and (inside or "'" in text[i + 1 :]):
            inside = not inside
            if inside:
                end = len(out)
        else:
            out.append(char)
            if char != " " or inside:
                end = len(out)
        i += 1
    return "".join(out[:end])


def split_blank(text: str) -> list[str]:
    """``separate_string_blank_delim``: the originate API's argument split."""
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        start, inside = i, False
        while i < n:
            char = text[i]
            if char == ESC:
                i += 2
                continue
            if char == "'":
                inside = not inside
            elif char == " " and not inside:
                break
            i += 1
        parts.append(text[start:i])
    return [_cleanup(p, None) for p in parts]


def split_char(text: str, delim: str, limit: int = 1024) -> list[str]:
    """``separate_string_char_delim`` (at most ``limit`` parts)."""
    parts: list[str] = []
    i, n, start = 0, len(text), 0
    inside = False
    if not text:
        return []
    while i < n and len(parts) < limit - 1:
        char = text[i]
        if char == ESC:
            i += 2
            continue
        if char == "'" and (inside or "'" in text[i + 1 :]):
            inside = not inside
        elif char == delim and not inside:
            parts.append(text[start:i])
            start = i + 1
            if start >= n:
                break
        i += 1
    if start < n:
        parts.append(text[start:])
    return [_cleanup(p, delim) for p in parts]


def parse_variables(block: str) -> list[tuple[str, str]]:
    """The ``{…}`` block (without its braces) → variables in order (duplicates kept)."""
    variables: list[tuple[str, str]] = []
    for part in split_char(block, ","):
        pair = split_char(part, "=", limit=2)
        if len(pair) == 2 and pair[0]:
            variables.append((pair[0], pair[1]))
    return variables


def split_leg(aleg: str) -> tuple[list[tuple[str, str]], str] | None:
    """``{vars}dial`` → (variables, dial); None when the block never ends."""
    if not aleg.startswith("{"):
        return [], aleg
    close = aleg.find("}")
    if close < 0:
        return None
    return parse_variables(aleg[1:close]), aleg[close + 1 :]


def parse_command(command: str) -> tuple[list[tuple[str, str]], str, list[str]]:
    """``[originate ]{vars}dial app …`` → (variables in order, dial string, other arguments);
    the dial string stays as written when its block never ends (FreeSWITCH refuses it)."""
    words = split_blank(command)
    if words[:1] == ["originate"]:
        words = words[1:]
    if not words:
        return [], "", []
    leg = split_leg(words[0])
    if leg is None:
        return [], words[0], words[1:]
    return leg[0], leg[1], words[1:]


# --- the dial string and the application -----------------------------------------------------


def parse_dial(dial: str) -> Dial:
    dial = dial.split(",")[0].split("|")[0]  # several endpoints: the first is modelled
    tech, slash, rest = dial.partition("/")
    if not slash or tech not in KNOWN_TECH:
        raise OriginateError("CHAN_NOT_IMPLEMENTED")
    if tech == "loopback":
        parts = rest.split("/")
        number = parts[0]
        context = parts[1] if len(parts) > 1 and parts[1] else "default"
        return Dial("loopback", number, context, f"loopback/{number}-a", sessions=2)
    if tech == "sofia":
        parts = rest.split("/")
        if parts[0] == "gateway" and len(parts) >= 3:
            number = parts[2].split("@")[0]
            return Dial("sofia", number, "default", f"sofia/gateway/{parts[1]}/{parts[2]}")
        target = "/".join(parts[1:])
        number = target.removeprefix("sip:").split("@")[0].split(";")[0]
        return Dial("sofia", number, "default", f"sofia/{parts[0]}/{target}")
    number = rest.split("@")[0]
    return Dial(tech, number, "default", f"{tech}/{rest}")


def parse_app(exten: str) -> tuple[str, str]:
    """``&name(arg)`` → (name, arg), cut like ``originate_function``: first ``)``, first ``(``."""
    name = exten[1:]
    close = name.find(")")
    if close >= 0:
        name = name[:close]
    name, _, arg = name.partition("(")
    return name, arg


def parse(args: str) -> Originate:
    """The arguments of ``originate`` (without the word itself)."""
    argv = split_blank(args.strip())
    if not argv:
        raise OriginateError("DESTINATION_OUT_OF_ORDER")
    leg = split_leg(argv[0])
    if leg is None or not leg[1]:
        raise OriginateError("DESTINATION_OUT_OF_ORDER")
    variables = dict(leg[0])
    dial = parse_dial(leg[1])
    error_cause = dial.number.upper() if dial.endpoint == "error" else None
    exten = argv[1] if len(argv) > 1 else "&park"
    if exten.startswith("&") and len(exten) > 1:
        name, arg = parse_app(exten)
        return Originate(variables, dial, name, arg, error_cause=error_cause)
    context = argv[3] if len(argv) > 3 else "default"
    return Originate(
        variables, dial, exten, dialplan=True, context=context, error_cause=error_cause
    )
