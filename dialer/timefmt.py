"""Times as the customer-facing contract writes them: UTC ISO 8601 with milliseconds and a Z
(``2026-06-12T20:56:31.000Z``, seeds/001)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
