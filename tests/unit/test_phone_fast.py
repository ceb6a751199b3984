"""The vectorised phone path must give phonenumbers' own answers, number for number."""

from __future__ import annotations

import random

import phonenumbers
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.phone import ZONE_SETS, fast, normalise_column, reference

REJECT = frozenset({"premium_rate"})
COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def assert_agrees(values: list[str], region: str) -> None:
    column = normalise_column(pa.array(values, pa.string()), region, REJECT)
    numbers = column.e164.to_pylist()
    for index, value in enumerate(values):
        expected = reference.classify(value, region, REJECT)
        got_reason = column.reasons[index]
        assert got_reason == expected.reason, (value, region)
        if expected.reason is None:
            assert numbers[index] == expected.e164, (value, region)
            assert ZONE_SETS.zones(int(column.zone_ids[index])) == expected.timezones, value


def _format(digits: str, style: int) -> str:
    if style == 0:
        return digits
    if style == 1:
        return " ".join(digits[i : i + 3] for i in range(0, len(digits), 3))
    if style == 2:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return ".".join(digits[i : i + 4] for i in range(0, len(digits), 4))


@st.composite
def international(draw: st.DrawFn) -> str:
    cc = draw(st.sampled_from(COUNTRY_CODES))
    nsn = draw(st.text(alphabet="0123456789", min_size=1, max_size=15))
    return f"+{cc}" + _format(nsn, draw(st.integers(0, 3)))


@st.composite
def nanp_national(draw: st.DrawFn) -> str:
    digits = draw(st.text(alphabet="0123456789", min_size=10, max_size=10))
    prefix = draw(st.sampled_from(["", "1", "1-", "+1 "]))
    return prefix + _format(digits, draw(st.integers(0, 3)))


@st.composite
def messy(draw: st.DrawFn) -> str:
    return draw(st.text(alphabet="0123456789+-() .x#*/ABCabc\t", min_size=0, max_size=24))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(international(), min_size=1, max_size=40))
def test_international_numbers_agree(values: list[str]) -> None:
    assert_agrees(values, "US")


@settings(max_examples=300, deadline=None)
@given(st.lists(nanp_national(), min_size=1, max_size=40), st.sampled_from(["US", "CA", "GB"]))
def test_national_numbers_agree(values: list[str], region: str) -> None:
    assert_agrees(values, region)


@settings(max_examples=200, deadline=None)
@given(st.lists(messy(), min_size=1, max_size=40), st.sampled_from(["US", "DE", "IT", "BR"]))
def test_arbitrary_strings_agree(values: list[str], region: str) -> None:
    assert_agrees(values, region)


def test_real_numbers_of_every_region_agree() -> None:
    """Example numbers of every type in every region, in several formats."""
    values: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in reference.TYPE_NAMES:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is None:
                continue
            for style in (
                phonenumbers.PhoneNumberFormat.E164,
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            ):
                values.append(phonenumbers.format_number(example, style))
    assert len(values) > 2000
    assert_agrees(values, "US")


def test_fast_path_decides_the_common_shapes() -> None:
    """Not a correctness test: proves the fast path is actually taken for ordinary lists."""
    rng = random.Random(7)
    values = [
        f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        for _ in range(2000)
    ]
    values += [f"+44 20 7946 {rng.randint(0, 9999):04d}" for _ in range(500)]
    result = fast.classify(pa.array(values), "US")
    assert result.decided.all()
    assert_agrees(values, "US")
