"""The schedule model and the calling rules: defaults, normalisation, and every error message."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from pydantic import ValidationError

from dialer.campaigns.holidays_calendar import HolidayCalendar, normalise_country
from dialer.campaigns.schedule import (
    WEEKDAYS,
    CallingRule,
    Schedule,
    parse_calling_rules,
    parse_window,
)


def only_error(
    data: dict[str, Any], model: type[Schedule | CallingRule] = Schedule
) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]["loc"], errors[0]["msg"]


def test_defaults() -> None:
    schedule = Schedule()
    assert schedule.start is None
    assert schedule.end is None
    assert schedule.days == list(WEEKDAYS)
    assert schedule.window == "09:00-20:00"
    assert schedule.holidays is None


def test_normalises_days_window_and_country() -> None:
    schedule = Schedule.model_validate(
        {"days": ["MON", " Tue ", "wed"], "window": " 09:30 - 17:00 ", "holidays": "us-ca"}
    )
    assert schedule.days == ["mon", "tue", "wed"]
    assert schedule.window == "09:30-17:00"
    assert schedule.holidays == "US-CA"


def test_explicit_holiday_dates() -> None:
    schedule = Schedule.model_validate({"holidays": ["2026-12-24", date(2026, 12, 31)]})
    assert schedule.holidays == [date(2026, 12, 24), date(2026, 12, 31)]


def test_aware_start_and_end() -> None:
    schedule = Schedule.model_validate(
        {"start": "2026-12-01T09:00:00Z", "end": "2026-12-31T17:00:00-05:00"}
    )
    assert schedule.start == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert schedule.end == datetime(2026, 12, 31, 22, tzinfo=UTC)


def test_unknown_field_is_rejected() -> None:
    loc, _ = only_error({"windows": "09:00-20:00"})
    assert loc == ("windows",)


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        ({"window": "9-5"}, "window", 'must be "HH:MM-HH:MM" with start before end, got "9-5"'),
        ({"window": "0900-2000"}, "window", 'must be "HH:MM-HH:MM" with start before end'),
        ({"window": "25:00-26:00"}, "window", "(hours 00-23, minutes 00-59)"),
        ({"window": "09:60-20:00"}, "window", "(hours 00-23, minutes 00-59)"),
        ({"window": "20:00-09:00"}, "window", "cannot run overnight"),
        ({"window": "22:00-06:00"}, "window", "cannot run overnight"),
        ({"window": "09:00-09:00"}, "window", "cannot run overnight or be empty"),
        ({"window": "21:00-23:00"}, "window", "lies outside the legal calling hours 08:00-21:00"),
        ({"window": "06:00-08:00"}, "window", "lies outside the legal calling hours 08:00-21:00"),
        ({"holidays": "XX"}, "holidays", 'unknown country "XX"'),
        ({"holidays": "2026-07-04"}, "holidays", 'unknown country "2026-07-04"'),
        ({"holidays": "US-ZZ"}, "holidays", 'unknown subdivision "ZZ" of "US" (known: AK, AL,'),
        ({"holidays": ["2026-13-01"]}, "holidays", '"2026-13-01" is not a date (use YYYY-MM-DD)'),
        ({"holidays": ["2026-12-24T00:00:00"]}, "holidays", "is not a date"),
        ({"holidays": 7}, "holidays", 'must be a country code such as "US" or "US-CA"'),
        (
            {"days": ["mon", "fun"]},
            "days",
            'unknown day "fun" (use mon, tue, wed, thu, fri, sat, sun)',
        ),
        ({"days": ["monday"]}, "days", 'unknown day "monday"'),
        ({"days": [1]}, "days", 'unknown day "1"'),
        ({"days": ["mon", "MON"]}, "days", 'day "mon" is listed twice'),
        ({"days": []}, "days", "must list at least one day"),
        (
            {"start": "2026-12-01T09:00:00"},
            "start",
            "must include a time zone (e.g. 2026-12-01T09:00:00Z)",
        ),
        ({"end": "2026-12-01T09:00:00"}, "end", "must include a time zone"),
        (
            {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T04:00:00-05:00"},
            "end",
            "must be after start",
        ),
    ],
)
def test_schedule_errors_name_the_problem(data: dict[str, Any], loc: str, message: str) -> None:
    got_loc, got_message = only_error(data)
    assert got_loc == (loc,)
    assert message in got_message
    assert not got_message.startswith("Value error")


def test_parse_window() -> None:
    assert parse_window("08:00-21:00") == (time(8), time(21))
    with pytest.raises(ValueError, match="cannot run overnight"):
        parse_window("21:00-08:00")


def test_country_codes() -> None:
    assert normalise_country("gb") == "GB"
    assert normalise_country("UK") == "UK"  # the package's own alias
    assert normalise_country("gb-eng") == "GB-ENG"
    with pytest.raises(ValueError, match='unknown country "ZZ-1"'):
        normalise_country("ZZ-1")


def test_holiday_calendar() -> None:
    assert date(2026, 7, 4) in HolidayCalendar("US")
    assert date(2026, 3, 31) not in HolidayCalendar("US")
    assert date(2026, 3, 31) in HolidayCalendar("US-CA")  # César Chávez Day
    assert date(2026, 12, 26) in HolidayCalendar("GB")  # Boxing Day
    assert date(2026, 12, 24) in HolidayCalendar([date(2026, 12, 24)])
    assert date(2026, 12, 25) not in HolidayCalendar([date(2026, 12, 24)])
    assert date(2026, 12, 25) not in HolidayCalendar(None)


# -- calling rules ----------------------------------------------------------------------------


FLORIDA = {"name": "Florida (FTSA)", "prefixes": ["+1305", "+1786"], "window": "08:00-20:00"}


def test_parse_calling_rules() -> None:
    rules = parse_calling_rules(
        '[{"name": "Florida (FTSA)", "prefixes": ["+1305", "+1786"], "window": "08:00-20:00"},'
        ' {"name": "Weekdays", "prefixes": ["+1212"], "window": "10:00-18:00",'
        ' "days": ["Mon", "tue"]}]'
    )
    assert rules == [
        CallingRule(**FLORIDA),
        CallingRule(name="Weekdays", prefixes=["+1212"], window="10:00-18:00", days=["mon", "tue"]),
    ]


@pytest.mark.parametrize("text", ["", "  ", "[]"])
def test_no_rules(text: str) -> None:
    assert parse_calling_rules(text) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{", "calling rules: not valid JSON"),
        ('{"name": "x"}', "calling rules: must be a JSON list of rules"),
        (
            '[{"name": "FL", "prefixes": ["305"], "window": "08:00-20:00"}]',
            'calling rules: rule 1 (FL): prefixes: "305" is not an E.164 prefix',
        ),
        (
            '[{"name": "FL", "prefixes": ["+1305"], "window": "08:00-20:00"},'
            ' {"name": "OK", "prefixes": ["+1405"], "window": "8-20"}]',
            'rule 2 (OK): window: must be "HH:MM-HH:MM" with start before end',
        ),
        (
            '[{"name": "FL", "prefixes": [], "window": "08:00-20:00"}]',
            "rule 1 (FL): prefixes: must list at least one E.164 prefix",
        ),
        (
            '[{"name": "FL", "prefixes": ["+1305"], "window": "08:00-20:00", "days": ["fun"]}]',
            'rule 1 (FL): days: unknown day "fun"',
        ),
        ('[{"name": " ", "prefixes": ["+1305"], "window": "08:00-20:00"}]', "name: must not be"),
        ('[{"prefixes": ["+1305"], "window": "08:00-20:00"}]', "rule 1: name: Field required"),
        (
            '[{"name": "FL", "prefixes": ["+1305"], "window": "08:00-20:00", "hours": 1}]',
            "rule 1 (FL): hours: Extra inputs are not permitted",
        ),
        ("[1]", "rule 1: Input should be a valid dictionary"),
    ],
)
def test_calling_rule_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="calling rules") as caught:
        parse_calling_rules(text)
    assert message in str(caught.value)


def test_the_documented_example_parses() -> None:
    import dialer.campaigns.schedule as module

    assert module.__doc__ is not None
    example = module.__doc__.split("::", 1)[1]
    rules = parse_calling_rules(example)
    assert [rule.window for rule in rules] == ["08:00-20:00", "08:00-20:00"]
    assert [rule.days for rule in rules] == [None, ["mon", "tue", "wed", "thu", "fri", "sat"]]
    assert all(prefix.startswith("+1") for rule in rules for prefix in rule.prefixes)
