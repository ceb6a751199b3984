"""Phone numbers: E.164 normalisation, validity, type and time zones."""

from dialer.phone.column import PhoneColumn, normalise_column
from dialer.phone.timezones import ZONE_SETS
from dialer.phone.verdict import Verdict

__all__ = ["ZONE_SETS", "PhoneColumn", "Verdict", "normalise_column"]
