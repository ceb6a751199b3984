"""Header values as the lifecycle reads them: FreeSWITCH sends every value as text, often
padded or empty when unset."""

from __future__ import annotations

from typing import Any


def clean_text(value: Any) -> str | None:
    """The value as stripped text; None when absent or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def whole_number(value: Any) -> int | None:
    """The value as an integer; None when absent or not a whole number."""
    text = clean_text(value)
    if text is None or not text.lstrip("-").isdigit():
        return None
    return int(text)
