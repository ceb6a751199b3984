"""A whole column of raw phone strings to E.164, reasons and zones, fast path first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneNumberType

from dialer.phone import fast, reference
from dialer.phone.timezones import ZONE_SETS, zone_ids
from dialer.phone.verdict import EMPTY, INVALID_NUMBER, UNPARSEABLE, UNSUPPORTED_TYPE

#: Reason of each row; None where the number is accepted.
Reasons = npt.NDArray[np.object_]


@dataclass(frozen=True)
class PhoneColumn:
    e164: pa.StringArray
    reasons: Reasons
    zone_ids: npt.NDArray[np.int32]
    #: How many rows needed the (slow) reference path.
    reference_rows: int


def normalise_column(
    values: pa.Array, default_region: str, reject_types: frozenset[str]
) -> PhoneColumn:
    count = len(values)
    result = fast.classify(values, default_region)
    reasons: Reasons = np.full(count, None, dtype=object)
    zones = np.zeros(count, dtype=np.int32)
    reasons[result.empty] = EMPTY
    reasons[result.unparseable] = UNPARSEABLE

    decided = result.decided
    types = result.number_type
    reasons[decided & (types == PhoneNumberType.UNKNOWN)] = INVALID_NUMBER
    rejected_codes = [code for code, name in reference.TYPE_NAMES.items() if name in reject_types]
    if rejected_codes:
        reasons[decided & np.isin(types, rejected_codes)] = UNSUPPORTED_TYPE
    accepted_fast = decided & (reasons == None)  # noqa: E711 - element-wise on an object array
    zones[accepted_fast] = zone_ids(
        result.e164.filter(pa.array(accepted_fast)),
        types[accepted_fast],
        result.country_code[accepted_fast],
    )

    slow_rows = np.flatnonzero(~decided & ~result.empty & ~result.unparseable)
    e164 = result.e164
    if len(slow_rows):
        slow_e164 = _reference_rows(values, slow_rows, default_region, reject_types, reasons, zones)
        mask = np.zeros(count, dtype=bool)
        mask[slow_rows] = True
        e164 = pc.replace_with_mask(e164, pa.array(mask), slow_e164)
    # Rows refused for their number carry no E.164, whichever path refused them.
    refused = reasons != None  # noqa: E711
    if refused.any():
        e164 = pc.if_else(pa.array(refused), pa.scalar(None, pa.string()), e164)
    return PhoneColumn(e164, reasons, zones, len(slow_rows))


def _reference_rows(
    values: pa.Array,
    rows: npt.NDArray[np.intp],
    default_region: str,
    reject_types: frozenset[str],
    reasons: Reasons,
    zones: npt.NDArray[np.int32],
) -> pa.StringArray:
    """phonenumbers for ``rows``, once per distinct value ("n/a" is common), filling
    ``reasons`` and ``zones`` in place; the E.164 of each row."""
    encoded = values.take(pa.array(rows)).dictionary_encode()
    verdicts = [
        reference.classify(value, default_region, reject_types)
        for value in encoded.dictionary.to_pylist()
    ]
    indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    reasons[rows] = np.array([v.reason for v in verdicts], dtype=object)[indices]
    zone_of = np.array(
        [ZONE_SETS.intern(v.timezones) if v.reason is None else 0 for v in verdicts],
        dtype=np.int32,
    )
    zones[rows] = zone_of[indices]
    return pa.array([v.e164 for v in verdicts], pa.string()).take(pa.array(indices))
