"""Time zones of numbers, column-wise, from phonenumbers' own prefix table.

Zone sets are interned: each row carries a small integer into :data:`ZONE_SETS`, so a million
rows share a few hundred tuples and writers can map ids to their own literal once.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneNumberType
from phonenumbers.phonenumberutil import is_number_type_geographical
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from dialer.phone.reference import known_timezones


class ZoneSets:
    """Interning table: zone tuple <-> small integer id. Id 0 is the empty (unknown) set."""

    def __init__(self) -> None:
        self._by_zones: dict[tuple[str, ...], int] = {(): 0}
        self._zones: list[tuple[str, ...]] = [()]

    def intern(self, zones: tuple[str, ...]) -> int:
        found = self._by_zones.get(zones)
        if found is None:
            found = len(self._zones)
            self._by_zones[zones] = found
            self._zones.append(zones)
        return found

    def zones(self, zone_id: int) -> tuple[str, ...]:
        return self._zones[zone_id]

    def __len__(self) -> int:
        return len(self._zones)


ZONE_SETS = ZoneSets()


@lru_cache(maxsize=1)
def _prefix_tables() -> list[tuple[int, pa.Array, npt.NDArray[np.int32]]]:
    """For each prefix length, longest first: the prefixes and their interned zone ids."""
    tables = []
    for length in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        keys = [key for key in TIMEZONE_DATA if len(key) == length]
        if not keys:
            continue
        ids = np.array(
            [ZONE_SETS.intern(known_timezones(tuple(TIMEZONE_DATA[key]))) for key in keys],
            dtype=np.int32,
        )
        tables.append((length, pa.array(keys), ids))
    return tables


@lru_cache(maxsize=512)
def _country_level_zone_id(cc: int) -> int:
    """``phonenumbers.timezone._country_level_time_zones_for_number``."""
    text = str(cc)
    for prefix_len in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        prefix = text[: 1 + prefix_len]
        if prefix in TIMEZONE_DATA:
            return ZONE_SETS.intern(known_timezones(tuple(TIMEZONE_DATA[prefix])))
    return 0


def zone_ids(
    e164: pa.Array, number_types: npt.NDArray[np.int16], country_codes: npt.NDArray[np.int32]
) -> npt.NDArray[np.int32]:
    """``time_zones_for_number`` for valid numbers, as interned ids (0 = unknown)."""
    count = len(e164)
    result = np.zeros(count, dtype=np.int32)
    valid = number_types != PhoneNumberType.UNKNOWN
    if not valid.any():
        return result
    geographic = np.zeros(count, dtype=bool)
    for cc in np.unique(country_codes[valid]):
        rows = valid & (country_codes == cc)
        for number_type in np.unique(number_types[rows]):
            typed = rows & (number_types == number_type)
            if is_number_type_geographical(int(number_type), int(cc)):
                geographic |= typed
            else:
                result[typed] = _country_level_zone_id(int(cc))
    if not geographic.any():
        return result
    rows = np.flatnonzero(geographic)
    digits = pc.utf8_slice_codeunits(e164.take(pa.array(rows)), 1, 64)
    open_rows = np.ones(len(rows), dtype=bool)
    for length, keys, ids in _prefix_tables():
        positions = pc.index_in(pc.utf8_slice_codeunits(digits, 0, length), value_set=keys)
        found = np.asarray(pc.fill_null(positions, -1).to_numpy(zero_copy_only=False))
        hit = open_rows & (found >= 0)
        if hit.any():
            result[rows[hit]] = ids[found[hit]]
            open_rows &= ~hit
            if not open_rows.any():
                break
    return result
