"""What the importer needs to know about one phone number."""

from __future__ import annotations

from dataclasses import dataclass

#: Row reject reasons from phone handling, in the order they are checked.
EMPTY = "empty"
UNPARSEABLE = "unparseable"
INVALID_NUMBER = "invalid_number"
UNSUPPORTED_TYPE = "unsupported_type"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Either an E.164 number with its type and zones, or the reason it was refused."""

    e164: str | None
    reason: str | None
    number_type: str | None = None
    #: Every zone the number may be in; empty means unknown (never dialled: fail closed).
    timezones: tuple[str, ...] = ()
