"""Calling hours at frozen instants: edges, the legal clamp, zone intersections, DST, holidays,
days, campaign bounds, stricter rules, and properties against a plain per-zone oracle."""

from __future__ import annotations

import timeit
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.campaigns.holidays_calendar import HolidayCalendar
from dialer.campaigns.schedule import (
    LEGAL_WINDOW,
    WEEKDAYS,
    CallingHours,
    CallingRule,
    Schedule,
    parse_window,
    wall_time_to_utc,
)

NY = ("America/New_York",)
CHI = ("America/Chicago",)
LA = ("America/Los_Angeles",)
SECOND = timedelta(seconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def wall(
    zone: str, year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone))


def hours(**schedule: Any) -> CallingHours:
    return CallingHours(Schedule.model_validate(schedule))


DEFAULT = hours()


# -- one zone -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        ((8, 59, 59), False),
        ((9, 0, 0), True),
        ((19, 59, 59), True),
        ((20, 0, 0), False),
    ],
)
def test_single_zone_edges(local: tuple[int, int, int], is_open: bool) -> None:
    at = wall("America/New_York", 2026, 12, 2, *local)
    assert DEFAULT.is_open(NY, at) is is_open
    assert DEFAULT.blocked_reason(NY, at) == (None if is_open else "outside_window")


def test_instant_in_any_offset_means_the_same() -> None:
    at = wall("Asia/Tokyo", 2026, 12, 3, 0, 0)  # 15:00 UTC, 10:00 in New York
    assert DEFAULT.is_open(NY, at)
    assert DEFAULT.next_open(NY, at) == utc(2026, 12, 2, 15)


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        ((7, 59, 59), False),
        ((8, 0, 0), True),
        ((20, 59, 59), True),
        ((21, 0, 0), False),
        ((22, 30, 0), False),
    ],
)
def test_window_is_clamped_to_the_legal_hours(local: tuple[int, int, int], is_open: bool) -> None:
    wide = hours(window="06:00-23:00")
    assert wide.is_open(LA, wall("America/Los_Angeles", 2026, 12, 2, *local)) is is_open


def test_clamped_next_open_and_open_until() -> None:
    wide = hours(window="06:00-23:00")
    assert wide.next_open(NY, wall("America/New_York", 2026, 12, 2, 6)) == utc(2026, 12, 2, 13)
    assert wide.open_until(NY, utc(2026, 12, 2, 13)) == utc(2026, 12, 3, 2)


def test_legal_window_constant() -> None:
    assert (time(8, 0), time(21, 0)) == LEGAL_WINDOW


# -- several zones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zones", "opens", "closes"),
    [
        # 09:00 Chicago (15:00 UTC) to 20:00 New York (01:00 UTC)
        (("America/Chicago", "America/New_York"), utc(2026, 12, 2, 15), utc(2026, 12, 3, 1)),
        (("America/New_York", "America/Chicago"), utc(2026, 12, 2, 15), utc(2026, 12, 3, 1)),
        # 09:00 Pacific (17:00 UTC) to 20:00 Eastern (01:00 UTC)
        (("America/Los_Angeles", "America/New_York"), utc(2026, 12, 2, 17), utc(2026, 12, 3, 1)),
        (("America/New_York", "America/New_York"), utc(2026, 12, 2, 14), utc(2026, 12, 3, 1)),
    ],
)
def test_intersection_of_zones(zones: tuple[str, ...], opens: datetime, closes: datetime) -> None:
    assert not DEFAULT.is_open(zones, opens - SECOND)
    assert DEFAULT.is_open(zones, opens)
    assert DEFAULT.is_open(zones, closes - SECOND)
    assert not DEFAULT.is_open(zones, closes)
    assert DEFAULT.next_open(zones, utc(2026, 12, 2, 6)) == opens
    assert DEFAULT.open_until(zones, opens) == closes  # across UTC midnight
    assert DEFAULT.open_until(zones, closes - SECOND) == closes
    assert DEFAULT.next_open(zones, closes) == opens + timedelta(days=1)


def test_zones_that_never_overlap() -> None:
    # 09:00-20:00 in Berlin is 08:00-19:00 UTC (07:00-18:00 in summer); in Honolulu
    # 19:00-06:00 UTC: they touch at 19:00 and never overlap.
    zones = ("Europe/Berlin", "Pacific/Honolulu")
    assert DEFAULT.next_open(zones, utc(2026, 12, 2)) is None
    assert DEFAULT.blocked_reason(zones, utc(2026, 12, 2, 19)) == "outside_window"


@pytest.mark.parametrize(
    "zones",
    [
        (),
        ("Etc/Unknown",),  # what phonenumbers answers when it cannot place a number
        ("America/New_York", "Mars/Olympus_Mons"),
        ("",),
        ("../../etc/passwd",),
        ("america/new_york",),
    ],
)
def test_unknown_or_no_zone_is_never_open(zones: tuple[str, ...]) -> None:
    at = utc(2026, 12, 2, 16)
    assert DEFAULT.is_open(zones, at) is False
    assert DEFAULT.next_open(zones, at) is None
    assert DEFAULT.open_until(zones, at) is None
    assert DEFAULT.blocked_reason(zones, at) == "unknown_zone"


def test_zones_may_be_any_sequence() -> None:
    at = utc(2026, 12, 2, 16)
    assert DEFAULT.is_open(["America/New_York"], at)
    assert DEFAULT.next_open(["America/Los_Angeles", "America/New_York"], at) == utc(
        2026, 12, 2, 17
    )


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT.is_open(NY, datetime(2026, 12, 2, 16))


# -- DST ----------------------------------------------------------------------------------------

# (zone, local date, 09:00 local in UTC, 20:00 local in UTC) around the 2026 US changes.
DST_EDGES = [
    ("America/New_York", 2026, 3, 7, 14, 1),
    ("America/New_York", 2026, 3, 8, 13, 0),
    ("America/New_York", 2026, 3, 9, 13, 0),
    ("America/New_York", 2026, 10, 31, 13, 0),
    ("America/New_York", 2026, 11, 1, 14, 1),
    ("America/New_York", 2026, 11, 2, 14, 1),
    ("America/Chicago", 2026, 3, 7, 15, 2),
    ("America/Chicago", 2026, 3, 8, 14, 1),
    ("America/Chicago", 2026, 3, 9, 14, 1),
    ("America/Chicago", 2026, 10, 31, 14, 1),
    ("America/Chicago", 2026, 11, 1, 15, 2),
    ("America/Chicago", 2026, 11, 2, 15, 2),
    ("America/Denver", 2026, 3, 7, 16, 3),
    ("America/Denver", 2026, 3, 8, 15, 2),
    ("America/Denver", 2026, 3, 9, 15, 2),
    ("America/Denver", 2026, 10, 31, 15, 2),
    ("America/Denver", 2026, 11, 1, 16, 3),
    ("America/Denver", 2026, 11, 2, 16, 3),
    ("America/Phoenix", 2026, 3, 7, 16, 3),
    ("America/Phoenix", 2026, 3, 8, 16, 3),
    ("America/Phoenix", 2026, 3, 9, 16, 3),
    ("America/Phoenix", 2026, 10, 31, 16, 3),
    ("America/Phoenix", 2026, 11, 1, 16, 3),
    ("America/Phoenix", 2026, 11, 2, 16, 3),
    ("America/Los_Angeles", 2026, 3, 7, 17, 4),
    ("America/Los_Angeles", 2026, 3, 8, 16, 3),
    ("America/Los_Angeles", 2026, 3, 9, 16, 3),
    ("America/Los_Angeles", 2026, 10, 31, 16, 3),
    ("America/Los_Angeles", 2026, 11, 1, 17, 4),
    ("America/Los_Angeles", 2026, 11, 2, 17, 4),
]


@pytest.mark.parametrize(
    ("zone", "year", "month", "day", "open_hour", "close_hour"),
    DST_EDGES,
    ids=[f"{edge[0].split('/')[1]}-{edge[2]:02}-{edge[3]:02}" for edge in DST_EDGES],
)
def test_dst_days_keep_the_local_window(
    zone: str, year: int, month: int, day: int, open_hour: int, close_hour: int
) -> None:
    zones = (zone,)
    opens = utc(year, month, day, open_hour)
    closes = utc(year, month, day, 0) + timedelta(days=1, hours=close_hour)
    assert DEFAULT.next_open(zones, wall(zone, year, month, day, 4)) == opens
    assert not DEFAULT.is_open(zones, opens - SECOND)
    assert DEFAULT.is_open(zones, opens)
    assert DEFAULT.is_open(zones, closes - SECOND)
    assert not DEFAULT.is_open(zones, closes)
    assert DEFAULT.open_until(zones, opens) == closes
    assert DEFAULT.next_open(zones, closes) == DEFAULT.next_open(
        zones, wall(zone, year, month, day, 4) + timedelta(days=1)
    )


def test_edges_in_a_skipped_or_repeated_hour_keep_the_window_short() -> None:
    new_york = ZoneInfo("America/New_York")
    # 02:30 does not exist on 2026-03-08: 07:30 UTC reads it as EST, 06:30 UTC as EDT.
    assert wall_time_to_utc(date(2026, 3, 8), time(2, 30), new_york, later=True) == utc(
        2026, 3, 8, 7, 30
    )
    assert wall_time_to_utc(date(2026, 3, 8), time(2, 30), new_york, later=False) == utc(
        2026, 3, 8, 6, 30
    )
    # 01:30 happens twice on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST).
    assert wall_time_to_utc(date(2026, 11, 1), time(1, 30), new_york, later=False) == utc(
        2026, 11, 1, 5, 30
    )
    assert wall_time_to_utc(date(2026, 11, 1), time(1, 30), new_york, later=True) == utc(
        2026, 11, 1, 6, 30
    )
    # An ordinary wall time has one reading.
    assert wall_time_to_utc(date(2026, 3, 8), time(9), new_york, later=True) == utc(2026, 3, 8, 13)
    assert wall_time_to_utc(date(2026, 3, 8), time(9), new_york, later=False) == utc(2026, 3, 8, 13)


def test_questions_during_the_changed_hours_do_not_raise() -> None:
    for zone in ("America/New_York", "Australia/Lord_Howe", "Europe/London"):
        for at in (utc(2026, 3, 8, 7, 30), utc(2026, 11, 1, 6, 30), utc(2026, 4, 4, 15, 15)):
            DEFAULT.is_open((zone,), at)
            DEFAULT.blocked_reason((zone,), at)
            assert DEFAULT.next_open((zone,), at) is not None


# -- holidays and days --------------------------------------------------------------------------

MON_TO_SAT = ["mon", "tue", "wed", "thu", "fri", "sat"]


def test_us_holiday_moves_next_open_to_the_next_campaign_day() -> None:
    calendar = hours(days=MON_TO_SAT, holidays="US")
    saturday = wall("America/New_York", 2026, 7, 4, 10)  # Independence Day
    assert not calendar.is_open(NY, saturday)
    assert calendar.blocked_reason(NY, saturday) == "holiday"
    # Sunday is not a campaign day: Monday 09:00 EDT.
    assert calendar.next_open(NY, saturday) == utc(2026, 7, 6, 13)
    assert calendar.blocked_reason(NY, wall("America/New_York", 2026, 7, 5, 10)) == "day"


def test_observed_holiday_is_a_holiday_too() -> None:
    calendar = hours(days=MON_TO_SAT, holidays="US")
    friday = wall("America/New_York", 2026, 7, 3, 10)  # Independence Day (observed)
    assert calendar.blocked_reason(NY, friday) == "holiday"
    assert calendar.next_open(NY, friday) == utc(2026, 7, 6, 13)
    assert calendar.is_open(NY, wall("America/New_York", 2026, 7, 2, 10))


def test_explicit_holiday_dates() -> None:
    calendar = hours(holidays=["2026-12-24"])
    eve = wall("America/New_York", 2026, 12, 24, 12)
    assert calendar.blocked_reason(NY, eve) == "holiday"
    assert calendar.next_open(NY, eve) == utc(2026, 12, 25, 14)  # Christmas is not listed
    assert calendar.is_open(NY, wall("America/New_York", 2026, 12, 23, 12))


def test_subdivision_holiday() -> None:
    chavez_day = wall("America/Los_Angeles", 2026, 3, 31, 12)  # a Tuesday
    assert hours(holidays="US").is_open(LA, chavez_day)
    california = hours(holidays="US-CA")
    assert california.blocked_reason(LA, chavez_day) == "holiday"
    assert california.next_open(LA, chavez_day) == utc(2026, 4, 1, 16)


def test_holiday_is_judged_on_each_zones_local_date() -> None:
    calendar = hours(holidays=["2026-12-24"])
    zones = ("America/Los_Angeles", "America/New_York")
    # 00:30 UTC on the 24th is still the 23rd in both zones: open until 20:00 Eastern.
    assert calendar.is_open(zones, utc(2026, 12, 24, 0, 30))
    assert calendar.open_until(zones, utc(2026, 12, 24, 0, 30)) == utc(2026, 12, 24, 1)
    assert calendar.next_open(zones, utc(2026, 12, 24, 1)) == utc(2026, 12, 25, 17)
    # 10:00 on the 24th in Kiritimati (UTC+14) is 20:00 UTC on the 23rd.
    kiritimati = ("Pacific/Kiritimati",)
    assert calendar.blocked_reason(kiritimati, utc(2026, 12, 23, 20)) == "holiday"
    assert calendar.is_open(kiritimati, utc(2026, 12, 22, 20))


def test_excluded_days_and_the_weekend() -> None:
    weekdays = hours(days=["mon", "tue", "wed", "thu", "fri"])
    saturday = wall("America/New_York", 2026, 12, 5, 10)
    assert weekdays.blocked_reason(NY, saturday) == "day"
    friday_evening = wall("America/New_York", 2026, 12, 4, 20, 30)
    assert weekdays.blocked_reason(NY, friday_evening) == "outside_window"
    assert weekdays.next_open(NY, friday_evening) == utc(2026, 12, 7, 14)
    assert weekdays.next_open(NY, saturday) == utc(2026, 12, 7, 14)


def test_day_is_judged_on_each_zones_local_date() -> None:
    weekdays = hours(days=["mon", "tue", "wed", "thu", "fri"])
    zones = ("America/Los_Angeles", "America/New_York")
    # Saturday 00:30 UTC is Friday evening in both zones.
    assert weekdays.is_open(zones, utc(2026, 12, 5, 0, 30))
    assert weekdays.open_until(zones, utc(2026, 12, 5, 0, 30)) == utc(2026, 12, 5, 1)
    assert weekdays.next_open(zones, utc(2026, 12, 5, 1)) == utc(2026, 12, 7, 17)


# -- campaign bounds ----------------------------------------------------------------------------


def test_start_and_end_bound_every_answer() -> None:
    bounded = hours(start="2026-12-02T15:30:00Z", end="2026-12-03T10:00:00-05:00")
    assert bounded.blocked_reason(NY, utc(2026, 12, 2, 15)) == "before_start"
    assert bounded.next_open(NY, utc(2026, 12, 1, 12)) == utc(2026, 12, 2, 15, 30)
    assert bounded.is_open(NY, utc(2026, 12, 2, 15, 30))
    assert bounded.open_until(NY, utc(2026, 12, 2, 16)) == utc(2026, 12, 3, 1)
    assert bounded.next_open(NY, utc(2026, 12, 3, 2)) == utc(2026, 12, 3, 14)
    assert bounded.open_until(NY, utc(2026, 12, 3, 14, 30)) == utc(2026, 12, 3, 15)
    assert bounded.is_open(NY, utc(2026, 12, 3, 15) - SECOND)
    assert not bounded.is_open(NY, utc(2026, 12, 3, 15))
    assert bounded.blocked_reason(NY, utc(2026, 12, 3, 15)) == "after_end"
    assert bounded.next_open(NY, utc(2026, 12, 3, 15)) is None
    assert bounded.next_open(NY, utc(2027, 1, 1)) is None


def test_end_before_the_next_window_means_never() -> None:
    bounded = hours(end="2026-12-02T13:00:00Z")
    assert bounded.next_open(NY, utc(2026, 12, 1, 2)) == utc(2026, 12, 1, 14)
    assert bounded.next_open(NY, utc(2026, 12, 2, 2)) is None


# -- next_open and open_until -------------------------------------------------------------------


def test_next_open_from_inside_is_the_instant_itself_in_utc() -> None:
    after = wall("America/New_York", 2026, 12, 2, 12, 34, 56)
    found = DEFAULT.next_open(NY, after)
    assert found == after
    assert found is not None
    assert found.tzinfo is UTC


def test_next_open_after_close_is_tomorrow() -> None:
    assert DEFAULT.next_open(NY, wall("America/New_York", 2026, 12, 2, 20)) == utc(2026, 12, 3, 14)
    assert DEFAULT.next_open(NY, wall("America/New_York", 2026, 12, 2, 23, 59)) == utc(
        2026, 12, 3, 14
    )


def test_open_until_edges() -> None:
    assert DEFAULT.open_until(NY, utc(2026, 12, 2, 14)) == utc(2026, 12, 3, 1)
    assert DEFAULT.open_until(NY, utc(2026, 12, 3, 1) - SECOND) == utc(2026, 12, 3, 1)
    assert DEFAULT.open_until(NY, utc(2026, 12, 3, 1)) is None
    assert DEFAULT.open_until(NY, utc(2026, 12, 2, 14) - SECOND) is None
    assert DEFAULT.open_until(NY, utc(2026, 12, 3, 0)) == utc(2026, 12, 3, 1)


# -- stricter rules -----------------------------------------------------------------------------

FLORIDA = CallingRule(name="Florida (FTSA)", prefixes=["+1305", "+1786"], window="08:00-20:00")
MIAMI = "+13055550100"
MANHATTAN = "+12125550100"


def test_rule_applies_by_prefix() -> None:
    strict = CallingHours(Schedule(window="08:00-21:00"), [FLORIDA])
    evening = wall("America/New_York", 2026, 12, 2, 20, 30)
    assert not strict.is_open(NY, evening, MIAMI)
    assert strict.blocked_reason(NY, evening, MIAMI) == "outside_window"
    assert strict.is_open(NY, evening, MANHATTAN)
    assert strict.is_open(NY, evening)  # no number, no rule
    assert strict.open_until(NY, utc(2026, 12, 2, 20), MIAMI) == utc(2026, 12, 3, 1)
    assert strict.open_until(NY, utc(2026, 12, 2, 20), MANHATTAN) == utc(2026, 12, 3, 2)
    assert strict.next_open(NY, evening, MIAMI) == utc(2026, 12, 3, 13)
    assert strict.is_open(NY, wall("America/New_York", 2026, 12, 2, 8), "+17865550100")


def test_rules_combine_and_restrict_days() -> None:
    rules = [
        CallingRule(name="all of +1", prefixes=["+1"], window="09:00-19:00"),
        CallingRule(name="Florida", prefixes=["+1305"], window="08:00-18:00", days=["mon", "fri"]),
    ]
    strict = CallingHours(Schedule(window="08:00-21:00"), rules)
    wednesday = wall("America/New_York", 2026, 12, 2, 12)
    assert strict.blocked_reason(NY, wednesday, MIAMI) == "day"
    assert strict.next_open(NY, wednesday, MIAMI) == utc(2026, 12, 4, 14)  # Friday 09:00
    assert strict.open_until(NY, utc(2026, 12, 4, 14), MIAMI) == utc(2026, 12, 4, 23)  # 18:00
    assert strict.open_until(NY, utc(2026, 12, 2, 14), MANHATTAN) == utc(2026, 12, 3, 0)  # 19:00
    assert strict.is_open(NY, wall("America/New_York", 2026, 12, 2, 8, 30), "+441632960000")


def test_rules_that_leave_nothing_mean_never() -> None:
    closed_window = CallingRule(name="none", prefixes=["+1305"], window="06:00-07:00")
    no_day = CallingRule(name="sundays", prefixes=["+1786"], window="09:00-20:00", days=["sun"])
    strict = CallingHours(Schedule(days=["mon", "tue"]), [closed_window, no_day])
    at = wall("America/New_York", 2026, 12, 1, 12)
    assert strict.next_open(NY, at, MIAMI) is None
    assert strict.blocked_reason(NY, at, MIAMI) == "outside_window"
    assert strict.next_open(NY, at, "+17865550100") is None
    assert strict.blocked_reason(NY, at, "+17865550100") == "day"
    assert strict.next_open(NY, at, MANHATTAN) == at


def test_every_blocked_reason() -> None:
    calendar = hours(
        days=MON_TO_SAT, holidays="US", start="2026-07-01T00:00:00Z", end="2026-08-01T00:00:00Z"
    )
    reasons = {
        calendar.blocked_reason(("Etc/Unknown",), utc(2026, 7, 2, 15)),
        calendar.blocked_reason(NY, utc(2026, 6, 30, 15)),
        calendar.blocked_reason(NY, utc(2026, 8, 3, 15)),
        calendar.blocked_reason(NY, utc(2026, 7, 5, 15)),
        calendar.blocked_reason(NY, utc(2026, 7, 4, 15)),
        calendar.blocked_reason(NY, utc(2026, 7, 2, 2)),
        calendar.blocked_reason(NY, utc(2026, 7, 2, 15)),
    }
    assert reasons == {
        "unknown_zone",
        "before_start",
        "after_end",
        "day",
        "holiday",
        "outside_window",
        None,
    }


# -- properties against a plain oracle ----------------------------------------------------------

ZONE_POOL = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/St_Johns",
    "America/Sao_Paulo",
    "Pacific/Honolulu",
    "Pacific/Pago_Pago",
    "Pacific/Kiritimati",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
]

SCHEDULES: dict[str, dict[str, Any]] = {
    "default": {},
    "wide": {"window": "06:00-23:00"},
    "weekdays_us": {"days": ["mon", "tue", "wed", "thu", "fri"], "holidays": "US"},
    "short_sat": {"days": ["sat"], "window": "10:15-11:45", "holidays": ["2027-01-02"]},
    "bounded": {"start": "2026-03-05T12:00:00Z", "end": "2026-03-20T18:30:00Z"},
}
HOURS = {name: hours(**data) for name, data in SCHEDULES.items()}

zone_sets = st.lists(st.sampled_from(ZONE_POOL), min_size=1, max_size=3).map(tuple)
instants = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 3, 1), timezones=st.just(UTC)
)


def oracle(name: str, zones: Sequence[str], at: datetime) -> bool:
    """Open in every zone by its wall clock: window ∩ legal hours, day, holiday, bounds."""
    schedule = Schedule.model_validate(SCHEDULES[name])
    if schedule.start is not None and at < schedule.start:
        return False
    if schedule.end is not None and at >= schedule.end:
        return False
    start, end = parse_window(schedule.window)
    start, end = max(start, LEGAL_WINDOW[0]), min(end, LEGAL_WINDOW[1])
    calendar = HolidayCalendar(schedule.holidays)
    for zone in zones:
        local = at.astimezone(ZoneInfo(zone))
        if WEEKDAYS[local.weekday()] not in schedule.days or local.date() in calendar:
            return False
        if not start <= local.time() < end:
            return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SCHEDULES)), zones=zone_sets, at=instants)
def test_is_open_matches_the_wall_clock_oracle(
    name: str, zones: tuple[str, ...], at: datetime
) -> None:
    assert HOURS[name].is_open(zones, at) is oracle(name, zones, at)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SCHEDULES)), zones=zone_sets, at=instants)
def test_next_open_is_the_first_open_instant(
    name: str, zones: tuple[str, ...], at: datetime
) -> None:
    calling = HOURS[name]
    found = calling.next_open(zones, at)
    horizon = found if found is not None else at + timedelta(days=8)
    if found is not None:
        assert found >= at
        assert calling.is_open(zones, found)
        assert (found == at) is calling.is_open(zones, at)
        if found > at:
            assert not calling.is_open(zones, found - timedelta(microseconds=1))
    sample = at
    while sample < horizon:
        assert not calling.is_open(zones, sample), sample
        sample += timedelta(minutes=15)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SCHEDULES)), zones=zone_sets, at=instants)
def test_open_until_is_where_the_open_span_ends(
    name: str, zones: tuple[str, ...], at: datetime
) -> None:
    calling = HOURS[name]
    start = calling.next_open(zones, at)
    if start is None:
        return
    until = calling.open_until(zones, start)
    assert until is not None
    assert until > start
    assert calling.is_open(zones, until - timedelta(microseconds=1))
    assert not calling.is_open(zones, until)
    assert calling.blocked_reason(zones, until) is not None
    assert calling.blocked_reason(zones, start) is None
    sample = start
    while sample < until:
        assert calling.is_open(zones, sample)
        assert calling.open_until(zones, sample) == until
        sample += timedelta(minutes=15)


# -- speed --------------------------------------------------------------------------------------


def test_warm_questions_are_fast() -> None:
    # Generous bounds (the aim is 20 µs and 100 µs): the best of several runs resists a busy host.
    calling = CallingHours(Schedule(days=MON_TO_SAT, holidays="US"), [FLORIDA])
    zones = ("America/Chicago", "America/New_York")
    at, late = utc(2026, 12, 2, 18), utc(2026, 12, 3, 3)
    calling.is_open(zones, at, MIAMI)
    calling.next_open(zones, late, MIAMI)
    runs = 2000
    is_open = min(timeit.repeat(lambda: calling.is_open(zones, at, MIAMI), number=runs, repeat=5))
    next_open = min(
        timeit.repeat(lambda: calling.next_open(zones, late, MIAMI), number=runs, repeat=5)
    )
    assert is_open / runs < 50e-6
    assert next_open / runs < 250e-6
