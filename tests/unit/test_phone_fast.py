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


# How people write numbers in CRM exports, and the near misses phonenumbers treats otherwise.
_LEADING = [
    "",
    "",
    "",
    "1",
    "1-",
    "1 ",
    "1.",
    "+1",
    "+1 ",
    "+1-",
    "+1.",
    "(+1) ",
    "+ 1 ",
    "011 ",
    "011-44 ",
    "0",
    "00",
    "++1 ",
    "+1+",
    "1+",
    "+",
    "(1) ",
    "Tel: ",
    "tel:+1",
    "+(1)",
]
_GROUPINGS = [
    "({a}) {b}-{c}",
    "{a}-{b}-{c}",
    "{a}.{b}.{c}",
    "{a} {b} {c}",
    "({a}){b}-{c}",
    "{a}{b}{c}",
    "[{a}] {b} {c}",
    "{a}/{b}-{c}",
    "{a}\u2013{b}\u2013{c}",
    "{a}\u00a0{b}\u00a0{c}",
    "{a}\u202f{b}\u202f{c}",
    "({a} {b}-{c}",
    "{a}) {b}-{c}",
    "(({a})) {b}-{c}",
    "{a}--{b}..{c}",
    "{a}~{b}~{c}",
    "{a}x{b}x{c}",
    "{a}*{b}-{c}",
    "{a}_{b}_{c}",
    "{a}-{b}-{c}-",
    "-{a}-{b}-{c}",
    "{a}-{b}-{c}.",
    "{a}-{b}-{c})",
    "{a}-{b}-{c}\u00ad",
    "{a}\uff0d{b}\uff0d{c}",
    "\uff08{a}\uff09{b}-{c}",
]
# phonenumbers' extension forms (explicit labels up to 20 digits, x/#/~/int up to 9, ",,"
# and ";" up to 15, "- 503#" up to 6) and forms it does not know or refuses.
_EXTENSIONS = [
    "",
    "",
    "",
    " x{e}",
    "x{e}",
    " X{e}",
    " x {e}",
    " ext. {e}",
    " ext {e}",
    "ext{e}",
    " Ext.{e}",
    " EXT: {e}",
    " extension {e}",
    " extn {e}",
    " xtn {e}",
    " ext-{e}",
    " #{e}",
    "#{e}#",
    " ~{e}",
    " int {e}",
    ",{e}",
    ",,{e}",
    ";{e}",
    ";ext={e}",
    " - {e}#",
    " anexo {e}",
    " ext. x{e}",
    " ex {e}",
    " e{e}",
    " poste {e}",
    " Durchwahl {e}",
    " /x{e}",
    "/x{e}",
    "\\x{e}",
    " x{e}.",
    " x{e} ",
    " x{e}x",
    " x{e}#",
    " \uff58{e}",
    " \u0434\u043e\u0431 {e}",
    " extensi\u00f3n {e}",
    " x-{e}",
    " x.{e}",
    " ext.. {e}",
    " x\u00a0{e}",
]
_TRAILING = ["", "", "", " ", "  ", "\t", "\u00a0", "\u3000", "\x1c", "\u2028", "\u200b"]


@st.composite
def crm_written(draw: st.DrawFn) -> str:
    """A number as a CRM export holds it: NANP or not, formatted, maybe with an extension."""
    digits = draw(st.text(alphabet="0123456789", min_size=10, max_size=10))
    if draw(st.booleans()):  # mostly plausible area codes and exchanges
        digits = draw(st.sampled_from("23456789")) + digits[1:3] + "5" + digits[4:]
    core = draw(st.sampled_from(_GROUPINGS)).format(a=digits[:3], b=digits[3:6], c=digits[6:])
    digit_count = draw(st.sampled_from([1, 2, 3, 4, 6, 9, 10, 15, 20, 21]))
    extension = draw(st.text(alphabet="0123456789", min_size=1, max_size=digit_count))
    value = (
        draw(st.sampled_from(_TRAILING))
        + draw(st.sampled_from(_LEADING))
        + core
        + draw(st.sampled_from(_EXTENSIONS)).format(e=extension)
        + draw(st.sampled_from(_TRAILING))
    )
    if draw(st.integers(0, 9)) == 0:  # a letter where a digit was (O for 0, l for 1)
        position = draw(st.integers(0, len(value) - 1))
        value = value[:position] + draw(st.sampled_from("OolIZ")) + value[position + 1 :]
    return value


@st.composite
def national_digits_of_any_length(draw: st.DrawFn) -> str:
    """Digit strings too short, too long or IDD-like, lightly formatted."""
    digits = draw(st.text(alphabet="0123456789", min_size=1, max_size=24))
    if draw(st.booleans()):
        digits = draw(st.sampled_from(["011", "0110", "01", "1", "0", "2", "9"])) + digits
    separator = draw(st.sampled_from(["", "", " ", "-", ".", "(", ")"]))
    step = draw(st.integers(1, 5))
    written = separator.join(digits[i : i + step] for i in range(0, len(digits), step))
    return draw(st.sampled_from(["", "+", " ", "(", "+ "])) + written


@st.composite
def no_digits(draw: st.DrawFn) -> str:
    """Cells that cannot hold a number, and a few that look as if they could not."""
    return draw(
        st.one_of(
            st.sampled_from(["n/a", "N/A", "none", "-", "?", "#N/A", "TBD", "see notes",
                             "ann@example.com", "+", "++", "=SUM(A1)", "x", "ext.", "",
                             "\u0661\u0662\u0663", "\uff0b", "\uff11\uff12\uff13",
                             "FLOWERS", "1-800-FLOWERS", "a" * 251, "2" * 251, " " * 300]),
            st.text(alphabet="abcxyz@.-_ /#()\u00e9", min_size=1, max_size=12),
        )
    )  # fmt: skip


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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(crm_written(), min_size=1, max_size=40), st.sampled_from(["US", "CA", "GB"]))
def test_crm_formatted_numbers_and_near_misses_agree(values: list[str], region: str) -> None:
    assert_agrees(values, region)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(national_digits_of_any_length(), min_size=1, max_size=40),
    st.sampled_from(["US", "CA", "DE"]),
)
def test_digit_strings_of_any_length_agree(values: list[str], region: str) -> None:
    assert_agrees(values, region)


@settings(max_examples=100, deadline=None)
@given(st.lists(no_digits(), min_size=1, max_size=20), st.sampled_from(["US", "FR"]))
def test_text_without_a_number_agrees(values: list[str], region: str) -> None:
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


def test_an_extension_after_too_few_digits_is_read_as_phonenumbers_reads_it() -> None:
    # found by hypothesis: "0x00" is one (invalid) number to phonenumbers, not "0" + "x00"
    assert_agrees(["0x00", "0 x00", "12x3", "0.1x5", "01x5", "0ext1", "2125550123x45"], "US")
