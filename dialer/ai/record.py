"""The AI record of a call (``call_attempts.ai``): what the agent did, kept with the call.

The consumer writes other keys of the same document (the agent's end, its summary), so this
never overwrites the column: each write merges its keys and appends to ``toolCalls`` in one
UPDATE, which PostgreSQL applies to the row's current value under the row lock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

TOOL_CALLS = "toolCalls"

# (a JSON ``null`` stored by an ORM write counts as no record yet, like SQL NULL)
_MERGE_PG = sa.text(
    "UPDATE call_attempts SET ai ="
    " (CASE WHEN jsonb_typeof(ai) = 'object' THEN ai ELSE '{}'::jsonb END)"
    " || CAST(:keys AS jsonb)"
    " || jsonb_build_object('toolCalls',"
    " coalesce(ai->'toolCalls', '[]'::jsonb) || CAST(:calls AS jsonb))"
    " WHERE id = :id"
)
# SQLite (the embedded mode): the same merge with its JSON1 functions
_MERGE_SQLITE = sa.text(
    "UPDATE call_attempts SET ai = json_set(json_patch("
    " CASE WHEN json_type(ai) = 'object' THEN ai ELSE '{}' END, :keys),"
    " '$.toolCalls', json_insert(coalesce(json_extract(ai, '$.toolCalls'), '[]'),"
    " '$[#]', json(:calls)))"
    " WHERE id = :id"
)


def record_tool_call(
    conn: Connection,
    attempt_id: uuid.UUID,
    entry: Mapping[str, Any],
    keys: Mapping[str, Any] | None = None,
) -> None:
    """Append ``entry`` to the call's ``toolCalls`` and merge ``keys`` into its AI record."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            _MERGE_PG,
            {
                "id": attempt_id,
                "keys": json.dumps(dict(keys or {})),
                "calls": json.dumps([dict(entry)]),
            },
        )
    else:
        conn.execute(
            _MERGE_SQLITE,
            {"id": attempt_id.hex, "keys": json.dumps(dict(keys or {})),
             "calls": json.dumps(dict(entry))},
        )
