"""Spreadsheet-safe CSV cells (OWASP "CSV injection").

A text cell whose first character (after any leading blanks) is ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is a formula to Excel, LibreOffice and Google Sheets; it gets a leading
``'`` so the program shows it as text and never evaluates it. NUL characters are dropped (no
spreadsheet keeps them) and a value longer than a cell holds (Excel: 32,767 characters) is cut.

E.164 numbers (``+`` and 2 to 15 digits, nothing else) are written as they are: a plus followed
only by digits cannot carry a formula, at worst a spreadsheet reads it as a number, and the
report keeps the canonical number that ``dialer lists import`` and the API take back. In Excel
open the file with Data > From Text/CSV and give the number columns the type Text to keep the
``+``. Numbers of our own columns (counts, seconds) are not text and are written as numbers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

#: Excel's limit for one cell; longer values are cut and end in ``…``.
MAX_CELL = 32_767

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def safe_text(value: str) -> str:
    """``value`` as a cell no spreadsheet evaluates."""
    text = value.replace("\x00", "")
    if len(text) > MAX_CELL - 2:
        text = text[: MAX_CELL - 2] + "…"
    if text.lstrip(" ").startswith(_TRIGGERS) or text.startswith(_TRIGGERS):
        return "'" + text
    return text


def phone_cell(value: str | None) -> str:
    """A phone number: a valid E.164 number verbatim, anything else neutralised like text."""
    if value is None:
        return ""
    if _E164.fullmatch(value):
        return value
    return safe_text(value)


def cell(value: Any) -> Any:
    """Any value of a report row as its cell: text neutralised, times ISO 8601 UTC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return iso(value)
    return safe_text(str(value))


def iso(at: datetime | None) -> str:
    """UTC ISO 8601 with milliseconds, as the call detail writes times."""
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
