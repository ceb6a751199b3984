"""A model of how FreeSWITCH 1.10.12 parses ``originate {vars}endpoint app`` arguments.

It follows ``switch_separate_string`` (space split honouring single quotes, then
``cleanup_separated_string``), ``originate``'s "first ``}`` ends the block", the comma split
and the ``=`` split. ``test_originate.py`` checks it against every row of the measured table
in the fixtures README before trusting it in the property tests.
"""

from __future__ import annotations

ESC = "\\"
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


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


def parse_originate(command: str) -> tuple[list[tuple[str, str]], str, list[str]]:
    """``originate …`` -> (variables in order, dial string, remaining arguments)."""
    words = split_blank(command)
    assert words[0] == "originate", words
    aleg, rest = words[1], words[2:]
    variables: list[tuple[str, str]] = []
    if aleg.startswith("{"):
        close = aleg.find("}")
        if close < 0:
            return [], aleg, rest  # FreeSWITCH: the dial string is malformed
        block, aleg = aleg[1:close], aleg[close + 1 :]
        for part in split_char(block, ","):
            pair = split_char(part, "=", limit=2)
            if len(pair) == 2:
                variables.append((pair[0], pair[1]))
    return variables, aleg, rest
