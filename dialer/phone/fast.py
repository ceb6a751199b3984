"""Vectorised phone classification built from phonenumbers' own metadata.

phonenumbers costs ~70 µs per number (parse, validate, type, zones); a million-row import
cannot afford that. This path handles the shapes that make up nearly every real list, once
:mod:`dialer.phone.written` has taken off the formatting and extension phonenumbers ignores:
``+<digits>`` and, for NANP default regions, national digits (ten with an optional leading
``1``, or any other length that cannot start with a national prefix, an IDD or the country
code) and ``011 <cc> …`` dialled from there. It evaluates the library's own regular
expressions column-wise with Arrow (RE2; libphonenumber's patterns are written to be
RE2-compatible), mirroring ``phonenumbers.parse`` / ``is_valid_number`` / ``number_type``
step by step, and it only *decides* rows whose parse is provably the simple one. Every other
row is left undecided for the reference path. The property tests in
``tests/unit/test_phone_fast.py`` hold it to phonenumbers' answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumberType
from phonenumbers.phonenumberutil import region_code_for_country_code

from dialer.phone.written import read_written

UNKNOWN = PhoneNumberType.UNKNOWN
_INTERNATIONAL = r"^\+[1-9][0-9]{2,19}$"
_NANP_IDD = "011"
_DIALLED_WITH_IDD = r"^011[1-9][0-9]{2,19}$"
# National NANP digits: ten after a leading 1 (the country code, stripped), or digits that
# start with none of 1 (country code, national prefix) and 011 (IDD): three to seventeen of
# them are a national number as written; more are too long to parse.
_NANP_WITH_LEADING_ONE = r"^1[2-9][0-9]{9}$"
_NANP_NATIONAL = r"^[02-9][0-9]{2,16}$"
_NANP_TOO_LONG = r"^[02-9][0-9]{17,}$"
_STARTS_WITH_IDD = r"^011(?:[1-9]|$)"
# One digit, or a plus with at most two: not a viable number to phonenumbers.
_TOO_SHORT = r"^(?:[0-9]|\+[0-9]{0,2})$"
_MIN_NSN, _MAX_NSN = 2, 17

_SPECIAL_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int16]


@dataclass(frozen=True)
class FastResult:
    #: Empty once stripped as ``str.strip()`` strips.
    empty: BoolArray
    #: Rows phonenumbers cannot parse, whatever the rest of this path says.
    unparseable: BoolArray
    #: Rows this path settled as numbers (valid or not); the rest of the non-empty,
    #: parseable rows must go to the reference path.
    decided: BoolArray
    #: ``+<cc><nsn>`` for decided rows (null elsewhere); for invalid rows it is not a number.
    e164: pa.StringArray
    #: phonenumbers' PhoneNumberType for decided rows; UNKNOWN means invalid.
    number_type: IntArray
    #: Country calling code of decided rows (0 elsewhere).
    country_code: npt.NDArray[np.int32]


def _bool(array: pa.Array | pa.ChunkedArray) -> BoolArray:
    filled = pc.fill_null(array, False)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _fullmatch(values: pa.Array, pattern: str) -> BoolArray:
    return _bool(pc.match_substring_regex(values, f"^(?:{pattern})$"))


def _prefix_match(values: pa.Array, pattern: str) -> BoolArray:
    return _bool(pc.match_substring_regex(values, f"^(?:{pattern})"))


def _desc_match(nsn: pa.Array, lengths: IntArray, desc: Any) -> BoolArray:
    """``phonenumbers._is_number_matching_desc``, column-wise."""
    if desc is None or not desc.national_number_pattern:
        return np.zeros(len(nsn), dtype=bool)
    mask = np.ones(len(nsn), dtype=bool)
    if len(desc.possible_length) > 0:
        mask = np.isin(lengths, np.asarray(desc.possible_length))
    if not mask.any():
        return mask
    return mask & _fullmatch(nsn, desc.national_number_pattern)


def _number_types(nsn: pa.Array, lengths: IntArray, metadata: Any) -> IntArray:
    """``phonenumbers._number_type_helper``, column-wise."""
    result = np.full(len(nsn), UNKNOWN, dtype=np.int16)
    open_rows = _desc_match(nsn, lengths, metadata.general_desc)
    for attribute, number_type in _SPECIAL_TYPES:
        if not open_rows.any():
            return result
        hit = open_rows & _desc_match(nsn, lengths, getattr(metadata, attribute))
        result[hit] = number_type
        open_rows &= ~hit
    if not open_rows.any():
        return result
    fixed = open_rows & _desc_match(nsn, lengths, metadata.fixed_line)
    if metadata.same_mobile_and_fixed_line_pattern:
        result[fixed] = PhoneNumberType.FIXED_LINE_OR_MOBILE
        return result
    mobile = open_rows & _desc_match(nsn, lengths, metadata.mobile)
    result[fixed & mobile] = PhoneNumberType.FIXED_LINE_OR_MOBILE
    result[fixed & ~mobile] = PhoneNumberType.FIXED_LINE
    result[~fixed & mobile] = PhoneNumberType.MOBILE
    return result


def _types_for_country(cc: int, nsn: pa.Array, lengths: IntArray) -> IntArray:
    """``is_valid_number`` + ``number_type`` for numbers of one calling code."""
    regions = COUNTRY_CODE_TO_REGION_CODE[cc]
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
        if metadata is None:
            return np.full(len(nsn), UNKNOWN, dtype=np.int16)
        return _number_types(nsn, lengths, metadata)
    # Several regions share the code: the first whose leading digits match, or (without
    # leading digits) whose patterns give a type, owns the number.
    result = np.full(len(nsn), UNKNOWN, dtype=np.int16)
    unassigned = np.ones(len(nsn), dtype=bool)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            owned = unassigned & _prefix_match(nsn, metadata.leading_digits)
            if owned.any():
                idx = np.flatnonzero(owned)
                sub = nsn.take(pa.array(idx))
                result[idx] = _number_types(sub, lengths[idx], metadata)
        else:
            types = _number_types(nsn, lengths, metadata)
            owned = unassigned & (types != UNKNOWN)
            result[owned] = types[owned]
        unassigned &= ~owned
        if not unassigned.any():
            break
    return result


@lru_cache(maxsize=1)
def _country_codes() -> tuple[pa.Array, pa.Array, pa.Array]:
    by_length: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for cc in COUNTRY_CODE_TO_REGION_CODE:
        text = str(cc)
        by_length[len(text)].append(text)
    return pa.array(by_length[1]), pa.array(by_length[2]), pa.array(by_length[3])


@lru_cache(maxsize=512)
def _national_prefix_pattern(cc: int) -> str | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        cc, region_code_for_country_code(cc)
    )
    if metadata is None:
        return None
    return metadata.national_prefix_for_parsing or None


@lru_cache(maxsize=64)
def nanp_national_supported(region: str) -> bool:
    """National digits need no prefix logic only where the national prefix is a bare ``1``
    (and the IDD is ``011``)."""
    metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
    return (
        metadata is not None
        and metadata.country_code == 1
        and metadata.national_prefix_for_parsing == "1"
        and metadata.national_prefix_transform_rule is None
        and metadata.international_prefix == _NANP_IDD
    )


def _split_country_code(digits: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``phonenumbers._extract_country_code``: the shortest valid 1–3 digit prefix."""
    one, two, three = _country_codes()
    p1 = pc.utf8_slice_codeunits(digits, 0, 1)
    p2 = pc.utf8_slice_codeunits(digits, 0, 2)
    p3 = pc.utf8_slice_codeunits(digits, 0, 3)
    cc = pc.if_else(
        pc.is_in(p1, value_set=one),
        p1,
        pc.if_else(
            pc.is_in(p2, value_set=two),
            p2,
            pc.if_else(pc.is_in(p3, value_set=three), p3, pa.scalar(None, pa.string())),
        ),
    )
    cc_len = pc.fill_null(pc.utf8_length(cc), 0)
    nsn = pc.if_else(
        pc.equal(cc_len, 1),
        pc.utf8_slice_codeunits(digits, 1, 64),
        pc.if_else(
            pc.equal(cc_len, 2),
            pc.utf8_slice_codeunits(digits, 2, 64),
            pc.utf8_slice_codeunits(digits, 3, 64),
        ),
    )
    return cc, nsn


def classify(values: pa.Array, default_region: str) -> FastResult:
    """Classify a column of raw phone strings; see the module docstring for the contract."""
    count = len(values)
    written = read_written(values)
    cleaned = written.digits
    unparseable = written.unparseable | (
        written.plain & _bool(pc.match_substring_regex(cleaned, _TOO_SHORT))
    )
    international = _bool(pc.match_substring_regex(cleaned, _INTERNATIONAL)) & ~unparseable
    digits = pc.utf8_slice_codeunits(cleaned, 1, 64)
    if nanp_national_supported(default_region):
        with_idd = _bool(pc.match_substring_regex(cleaned, _DIALLED_WITH_IDD))
        national_digits = _bool(pc.match_substring_regex(cleaned, _NANP_NATIONAL)) & ~_bool(
            pc.match_substring_regex(cleaned, _STARTS_WITH_IDD)
        )
        with_one = _bool(pc.match_substring_regex(cleaned, _NANP_WITH_LEADING_ONE))
        unparseable |= _bool(pc.match_substring_regex(cleaned, _NANP_TOO_LONG)) & ~_bool(
            pc.match_substring_regex(cleaned, r"^011[1-9]")
        )
        # Every national shape becomes 1<nsn>: the country code the parse would assign.
        digits = pc.case_when(
            pc.make_struct(pa.array(with_idd), pa.array(with_one), pa.array(national_digits)),
            pc.utf8_slice_codeunits(cleaned, 3, 64),
            pc.binary_join_element_wise("1", pc.utf8_slice_codeunits(cleaned, -10, 64), ""),
            pc.binary_join_element_wise("1", cleaned, ""),
            digits,
        )
        international |= with_idd
        candidate = international | with_one | national_digits
    else:
        candidate = international

    decided = np.zeros(count, dtype=bool)
    types = np.full(count, UNKNOWN, dtype=np.int16)
    codes = np.zeros(count, dtype=np.int32)
    if not candidate.any():
        return FastResult(
            written.empty, unparseable, decided, pa.nulls(count, pa.string()), types, codes
        )

    candidate &= ~unparseable
    cc_text, nsn = _split_country_code(digits)
    nsn_lengths = np.asarray(pc.fill_null(pc.utf8_length(nsn), 0).to_numpy(zero_copy_only=False))
    candidate &= _bool(pc.is_valid(cc_text))
    candidate &= (nsn_lengths >= _MIN_NSN) & (nsn_lengths <= _MAX_NSN)
    cc_values = pc.fill_null(pc.cast(cc_text, pa.int32()), 0).to_numpy(zero_copy_only=False)

    for cc in np.unique(cc_values[candidate]):
        rows = np.flatnonzero(candidate & (cc_values == cc))
        sub_nsn = nsn.take(pa.array(rows))
        sub_lengths = nsn_lengths[rows].astype(np.int16)
        prefix = _national_prefix_pattern(int(cc))
        simple = np.ones(len(rows), dtype=bool)
        if prefix:
            # A national prefix phonenumbers might strip: not the simple parse, defer.
            simple = ~_prefix_match(sub_nsn, prefix)
        if not simple.any():
            continue
        rows, sub_nsn, sub_lengths = (
            rows[simple],
            sub_nsn.filter(pa.array(simple)),
            sub_lengths[simple],
        )
        types[rows] = _types_for_country(int(cc), sub_nsn, sub_lengths)
        decided[rows] = True
        codes[rows] = cc

    e164 = pc.if_else(
        pa.array(decided),
        pc.binary_join_element_wise("+", digits, ""),
        pa.scalar(None, pa.string()),
    )
    return FastResult(written.empty, unparseable, decided, e164, types, codes)
