"""What an import stored, read back in the oracle's terms, on either backend."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine


def stored_recipients(engine: Engine) -> dict[int, tuple[str, list[str], dict[str, Any]]]:
    """Recipients by line number: (E.164, time zones, fields)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT row_no, phone_e164, timezones, fields FROM recipients")
        ).all()
    result = {}
    for row_no, phone, zones, fields in rows:
        zones = json.loads(zones) if isinstance(zones, str) else zones
        fields = json.loads(fields) if isinstance(fields, str) else fields
        result[int(row_no)] = (phone, list(zones), fields)
    return result
