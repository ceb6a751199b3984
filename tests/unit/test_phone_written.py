"""Reading formatting and extensions off phone cells column-wise (dialer/phone/written.py)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dialer.phone import fast
from dialer.phone.written import read_written
from tests.unit.test_phone_fast import assert_agrees


def test_arrow_strips_the_whitespace_python_strips() -> None:
    """The reference path strips with str.strip(); the column path with Arrow: same set."""
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000]
    stripped = pc.utf8_trim_whitespace(pa.array([f"{c}1{c}" for c in chars])).to_pylist()
    assert [c for c, s in zip(chars, stripped, strict=True) if s != f"{c}1{c}".strip()] == []


@pytest.mark.parametrize(
    ("value", "digits"),
    [
        ("(212) 555-0123", "2125550123"),
        ("212-555-0123", "2125550123"),
        ("212.555.0123", "2125550123"),
        ("+1 (212) 555-0123", "+12125550123"),
        ("1-212-555-0123", "12125550123"),
        ("  212 555 0123 ", "2125550123"),
        ("212\u2013555\u20130123", "2125550123"),  # en dash
        ("212\u00a0555\u00a00123", "2125550123"),  # no-break space
        ("(212) 555-0123 x123", "2125550123"),
        ("212-555-0123 ext. 45", "2125550123"),
        ("212-555-0123 Ext.45", "2125550123"),
        ("212-555-0123 extension 45", "2125550123"),
        ("212-555-0123 #45", "2125550123"),
        ("212-555-0123,,45", "2125550123"),
        ("212-555-0123;ext=45", "2125550123"),
        ("011 44 20 7946 0958", "011442079460958"),
    ],
)
def test_plain_values_and_their_digits(value: str, digits: str) -> None:
    written = read_written(pa.array([value]))
    assert written.plain.tolist() == [True]
    assert written.digits.to_pylist() == [digits]


@pytest.mark.parametrize(
    "value",
    [
        "212-555-O123",  # a letter
        "++1 212 555 0123",  # two pluses
        "1+212 555 0123",  # a plus inside
        "212~555~0123",  # a tilde can label an extension
        "212x555x0123",  # so can an x
        "212-555-0123 x1234567890",  # more than 9 digits after x: not an extension
        "212-555-0123 poste 45",  # a label phonenumbers does not know
        "212-555-0123 x45.",  # junk after the extension
        "212-555-0123/x45",  # phonenumbers' "second number" rule
        "212\u202f555\u202f0123",  # narrow no-break space is not punctuation to phonenumbers
        "\uff12\uff11\uff12\uff15\uff15\uff15\uff10\uff11\uff12\uff13",  # full-width digits
        "212-555-0123 \uff58 45",  # a full-width x: left to phonenumbers
    ],
)
def test_values_that_are_not_plain(value: str) -> None:
    assert read_written(pa.array([value])).plain.tolist() == [False]
    assert_agrees([value], "US")


def test_text_without_a_number_and_overlong_text_are_unparseable() -> None:
    # phonenumbers parses at most 250 characters, whatever they are.
    values = ["n/a", "ann@example.com", "-", "212 555 0123", "  ", "\u0661\u0662\u0663",
              "1" * 251, "212" + " " * 240 + "555-0123"]  # fmt: skip
    written = read_written(pa.array(values))
    assert written.unparseable.tolist() == [True, True, True, False, False, False, True, True]
    assert written.empty.tolist() == [False, False, False, False, True, False, False, False]
    assert_agrees(values, "US")


def test_fast_path_decides_crm_shapes() -> None:
    """Not a correctness test: proves formatted and extended numbers skip phonenumbers."""
    values = [
        "(212) 555-0123 x45", "+1 (212) 555-0124", "1-212-555-0125 ext. 7", " 212.555.0126 ",
        "555-1234", "23456", "212555012345678901", "011 44 20 7946 0958", "+44 20 7946 0958",
        "n/a", "see notes",
    ]  # fmt: skip
    result = fast.classify(pa.array(values), "US")
    assert (result.decided | result.unparseable).all()
    assert_agrees(values, "US")
