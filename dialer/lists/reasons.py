"""Reasons a row is rejected, in the order they are checked."""

from dialer.phone.verdict import EMPTY, INVALID_NUMBER, UNPARSEABLE, UNSUPPORTED_TYPE

MALFORMED_ROW = "malformed_row"
DUPLICATE_IN_FILE = "duplicate_in_file"
DUPLICATE_IN_LIST = "duplicate_in_list"
DNC = "dnc"

ALL_REASONS = (
    MALFORMED_ROW,
    EMPTY,
    UNPARSEABLE,
    INVALID_NUMBER,
    UNSUPPORTED_TYPE,
    DUPLICATE_IN_FILE,
    DUPLICATE_IN_LIST,
    DNC,
)
