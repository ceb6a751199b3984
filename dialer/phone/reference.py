"""The reference path: phonenumbers itself, one value at a time.

Everything the vectorised path cannot prove it handles identically comes here, and the
property tests compare the two.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers.timezone import time_zones_for_number

from dialer.phone.verdict import EMPTY, INVALID_NUMBER, UNPARSEABLE, UNSUPPORTED_TYPE, Verdict

UNKNOWN_TIMEZONE = "Etc/Unknown"

TYPE_NAMES: dict[int, str] = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
KNOWN_TYPE_NAMES = frozenset(TYPE_NAMES.values())


def known_timezones(zones: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(zone for zone in zones if zone != UNKNOWN_TIMEZONE)


def classify(raw: str, region: str, reject_types: frozenset[str]) -> Verdict:
    value = raw.strip()
    if not value:
        return Verdict(None, EMPTY)
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return Verdict(None, UNPARSEABLE)
    if not phonenumbers.is_valid_number(number):
        return Verdict(None, INVALID_NUMBER)
    type_name = TYPE_NAMES[phonenumbers.number_type(number)]
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if type_name in reject_types:
        return Verdict(e164, UNSUPPORTED_TYPE, type_name)
    zones = known_timezones(tuple(time_zones_for_number(number)))
    return Verdict(e164, None, type_name, zones)


@lru_cache(maxsize=1024)
def region_is_known(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS
