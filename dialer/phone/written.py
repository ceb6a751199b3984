"""How a phone cell is written, read column-wise the way ``phonenumbers.parse`` reads it.

phonenumbers skips formatting punctuation and parses an extension off the end of a number
(``(212) 555-0123 ext. 45`` is ``2125550123`` with extension ``45``). This module does the
same to a whole Arrow column, but only where the outcome provably depends on nothing else:

* the value is stripped of the whitespace ``str.strip()`` strips (Arrow's Unicode whitespace
  is the same set; ``tests/unit/test_phone_written.py`` checks it);
* an extension is cut off with phonenumbers' own extension pattern (RE2 evaluates it like
  Python's ``re`` on ASCII text; other text keeps its extension and goes to the reference);
* what remains must be formatting punctuation phonenumbers ignores (its own list, without the
  characters that can label an extension) around digits and at most one leading ``+``.

Such a value is *plain*: phonenumbers reads exactly its ``digits``, so the vectorised path
may decide it. Everything else is left to the reference path, except text that cannot hold a
number at all (no digit and no ``+``) or is longer than phonenumbers parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import phonenumberutil

BoolArray = npt.NDArray[np.bool_]

#: phonenumbers refuses longer input outright (NumberParseException.TOO_LONG).
MAX_INPUT_LENGTH: int = phonenumberutil._MAX_INPUT_STRING_LENGTH
# "x" and the tildes are extension labels as well as punctuation: never strip them blindly.
_EXTENSION_LABEL_PUNCTUATION = frozenset("x~\uff5e")
_PLAIN = r"^\+?[0-9]+$"


@lru_cache(maxsize=1)
def _formatting_class() -> str:
    """A regex class of the punctuation phonenumbers ignores inside a number."""
    punctuation = re.compile(f"[{phonenumberutil._VALID_PUNCTUATION}]")
    chars = [
        c
        for c in map(chr, range(0x10000))
        if punctuation.fullmatch(c) and c not in _EXTENSION_LABEL_PUNCTUATION
    ]
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"


@lru_cache(maxsize=1)
def _extension_at_end() -> str:
    """phonenumbers' ``_EXTN_PATTERN`` (case-insensitive, anchored at the end) for RE2."""
    return f"(?i)(?:{phonenumberutil._EXTN_PATTERNS_FOR_PARSING})$"


def _mask(array: pa.Array) -> BoolArray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class WrittenNumbers:
    #: Each value as ``str.strip()`` leaves it.
    stripped: pa.StringArray
    empty: BoolArray
    #: ``+<digits>`` or ``<digits>``: all phonenumbers will read from the value, where plain.
    digits: pa.StringArray
    plain: BoolArray
    #: phonenumbers raises for these whatever the region: no digit and no plus in ASCII text,
    #: or longer than it parses.
    unparseable: BoolArray


def read_written(values: pa.Array) -> WrittenNumbers:
    stripped = pc.utf8_trim_whitespace(values)
    lengths = np.asarray(pc.utf8_length(stripped).to_numpy(zero_copy_only=False))
    empty = lengths == 0
    too_long = lengths > MAX_INPUT_LENGTH
    ascii_text = _mask(pc.string_is_ascii(stripped))

    # Extensions: ASCII only, where RE2's \d and case folding are Python's. The extension
    # must end the value and the number before it must not be cut by phonenumbers'
    # "second number" rule (``212-555-0123/x45``).
    number_part = stripped
    if ascii_text.any():
        cut = pc.replace_substring_regex(stripped, _extension_at_end(), "", max_replacements=1)
        # phonenumbers strips an extension only when what precedes it is a viable number
        # (``0x00`` is read whole, not as "0" extension "00"); with fewer than three digits
        # before it the row goes to phonenumbers itself, which knows the exact rule
        digits_before = np.asarray(
            pc.count_substring_regex(cut, r"[0-9]").to_numpy(zero_copy_only=False)
        )
        has_extension = (
            ascii_text
            & (np.asarray(pc.utf8_length(cut).to_numpy(zero_copy_only=False)) < lengths)
            & (digits_before >= 3)
        )
        if has_extension.any():
            number_part = pc.if_else(pa.array(has_extension), cut, stripped)
    # Redundant with the extension cut as far as we can tell; kept so a value phonenumbers
    # truncates is never read whole.
    second_number = _mask(pc.match_substring_regex(stripped, phonenumberutil._SECOND_NUMBER_START))

    cleaned = pc.replace_substring_regex(number_part, _formatting_class(), "")
    plain = _mask(pc.match_substring_regex(cleaned, _PLAIN)) & ~too_long & ~second_number
    no_number = ascii_text & ~empty & ~_mask(pc.match_substring_regex(stripped, r"[0-9+]"))
    digits = pc.if_else(pa.array(plain), cleaned, pa.scalar(None, pa.string()))
    return WrittenNumbers(stripped, empty, digits, plain, no_number | (too_long & ~empty))
