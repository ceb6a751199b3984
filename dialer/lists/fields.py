"""Build each recipient's ``fields`` JSON object column-wise.

Values stay byte-for-byte strings: formula-looking text, quotes, newlines and megabyte cells
are escaped as JSON and never interpreted.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Control characters JSON must escape; \n, \r and \t are handled column-wise below, the rest
# (rare) value by value.
_RARE_CONTROLS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'


def _json_string_body(column: pa.Array) -> pa.Array:
    """The JSON string literal of each value, without the surrounding quotes."""
    # Most columns (names, e-mails, dates, ids) hold nothing JSON escapes: one scan, no copies.
    if not pc.any(pc.match_substring_regex(column, _NEEDS_ESCAPE)).as_py():
        return column
    escaped = pc.replace_substring(column, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    escaped = pc.replace_substring(escaped, "\n", "\\n")
    escaped = pc.replace_substring(escaped, "\r", "\\r")
    escaped = pc.replace_substring(escaped, "\t", "\\t")
    rare = np.asarray(
        pc.match_substring_regex(escaped, _RARE_CONTROLS).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    if rare.any():
        rows = np.flatnonzero(rare)
        originals = column.take(pa.array(rows)).to_pylist()
        fixed = [json.dumps(value, ensure_ascii=False)[1:-1] for value in originals]
        escaped = pc.replace_with_mask(escaped, pa.array(rare), pa.array(fixed, pa.string()))
    return escaped


def fields_json(names: list[str], columns: list[pa.Array], rows: int) -> pa.Array:
    """One JSON object per row: ``{"name": "value", ...}`` in column order."""
    if not names:
        return pa.array(["{}"] * rows, pa.string())
    pieces: list[pa.Array | str] = []
    for index, (name, column) in enumerate(zip(names, columns, strict=True)):
        key = json.dumps(name, ensure_ascii=False)
        pieces.append(("{" if index == 0 else ",") + key + ':"')
        pieces.append(_json_string_body(column))
        pieces.append('"')
    pieces.append("}")
    return pc.binary_join_element_wise(*pieces, "")
