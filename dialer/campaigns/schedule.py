"""Calling windows: when a recipient may be dialled, in the recipient's own local time.

A recipient may be called only

* inside the campaign's ``window`` in the recipient's local time, clamped to the legal
  08:00–21:00 (TCPA, 47 CFR § 64.1200(c)(1)) and to every stricter rule whose E.164 prefix
  matches the number;
* on the campaign's ``days`` (and a matching rule's days) and not on a holiday, both judged on
  the local date in that zone;
* within ``start``/``end`` of the campaign.

A number may lie in several time zones (``phonenumbers`` gives ``("America/Chicago",
"America/New_York")`` for some ranges): the open set is the intersection over all of them, so
the call is legal wherever the recipient actually is. No zone, or a zone ``zoneinfo`` does not
know (``phonenumbers`` answers ``"Etc/Unknown"`` for numbers it cannot place), means never:
fail closed.

Every function takes the instant as an argument (no clock is read here) and answers in UTC.
DST comes from ``zoneinfo``: a 09:00–20:00 window is 09:00–20:00 on the wall clock on the
days the clocks change too. A window edge that falls in a skipped or repeated hour (02:30 on
the spring-forward day) takes whichever of its two readings keeps the window shorter: fail
closed, and never an exception.

Stricter rules (``DIALER_CALLING_RULES``, parsed by :func:`parse_calling_rules`) ship empty.
EXAMPLE ONLY, to be checked with counsel before use; area codes do not prove where a
recipient is, and these lists are not complete::

    [
      {"name": "Florida (FTSA, Fla. Stat. § 501.059(8)(a))",
       "prefixes": ["+1305", "+1786", "+1954", "+1754", "+1561", "+1407", "+1321", "+1813",
                    "+1727", "+1941", "+1239", "+1863", "+1352", "+1904", "+1386", "+1850",
                    "+1772"],
       "window": "08:00-20:00"},
      {"name": "Mississippi (Miss. Code § 77-3-723: 8 a.m. to 8 p.m., no Sundays)",
       "prefixes": ["+1228", "+1601", "+1662", "+1769"],
       "window": "08:00-20:00",
       "days": ["mon", "tue", "wed", "thu", "fri", "sat"]}
    ]
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from dialer.campaigns.holidays_calendar import HolidayCalendar, normalise_country

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[Weekday, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LEGAL_WINDOW: Final[tuple[time, time]] = (time(8, 0), time(21, 0))

BlockedReason = Literal[
    "unknown_zone", "before_start", "after_end", "day", "holiday", "outside_window"
]

_WINDOW_RE: Final = re.compile(r"\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*")
_PREFIX_RE: Final = re.compile(r"\+[1-9]\d{0,14}")
_WINDOW_FORMAT: Final = 'must be "HH:MM-HH:MM" with start before end'
# Beyond this, no day is allowed as far as anyone plans a campaign: answer "never".
_HORIZON_DAYS: Final = 400
# Caches are cleared, not evicted one by one, when they reach this: a cold rebuild is cheap.
_CACHE_LIMIT: Final = 200_000
_ONE_DAY: Final = timedelta(days=1)


def parse_window(text: str) -> tuple[time, time]:
    """``"09:00-20:00"`` → ``(time(9), time(20))``; ``ValueError`` naming the problem."""
    match = _WINDOW_RE.fullmatch(text)
    if match is None:
        raise ValueError(f'{_WINDOW_FORMAT}, got "{text}"')
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f'{_WINDOW_FORMAT}, got "{text}" (hours 00-23, minutes 00-59)')
    start, end = time(h1, m1), time(h2, m2)
    if start >= end:
        raise ValueError(
            f'{_WINDOW_FORMAT}, got "{text}" (a window cannot run overnight or be empty)'
        )
    return start, end


def _window_field(value: str) -> str:
    try:
        start, end = parse_window(value)
    except ValueError as exc:
        raise PydanticCustomError("window", str(exc)) from None
    return f"{start:%H:%M}-{end:%H:%M}"


def _days_field(value: object) -> object:
    if not isinstance(value, list | tuple):
        return value  # pydantic reports the type
    days: list[str] = []
    for item in value:
        day = item.strip().lower() if isinstance(item, str) else None
        if day not in WEEKDAYS:
            raise PydanticCustomError(
                "unknown_day",
                'unknown day "{day}" (use mon, tue, wed, thu, fri, sat, sun)',
                {"day": str(item)},
            )
        if day in days:
            raise PydanticCustomError("duplicate_day", 'day "{day}" is listed twice', {"day": day})
        days.append(day)
    if not days:
        raise PydanticCustomError("no_days", "must list at least one day")
    return days


class Schedule(BaseModel):
    """When a campaign may dial; the campaign model embeds it as ``schedule:``."""

    model_config = ConfigDict(extra="forbid")

    start: datetime | None = None
    end: datetime | None = None
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    window: str = "09:00-20:00"
    holidays: str | list[date] | None = None

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive instant would be read in whichever zone the server runs in.
            raise PydanticCustomError(
                "naive_datetime", "must include a time zone (e.g. 2026-12-01T09:00:00Z)"
            )
        start = info.data.get("start")
        if info.field_name == "end" and start is not None and value <= start:
            raise PydanticCustomError("end_before_start", "must be after start")
        return value

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: object) -> object:
        return _days_field(value)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        normalised = _window_field(value)
        start, end = parse_window(normalised)
        if end <= LEGAL_WINDOW[0] or start >= LEGAL_WINDOW[1]:
            # Clamped to the legal hours it would be empty: the campaign could never dial.
            raise PydanticCustomError(
                "window_outside_legal",
                '"{window}" lies outside the legal calling hours 08:00-21:00',
                {"window": normalised},
            )
        return normalised

    @field_validator("holidays", mode="before")
    @classmethod
    def _holidays(cls, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return normalise_country(value)
            except ValueError as exc:
                raise PydanticCustomError("unknown_country", str(exc)) from None
        if isinstance(value, list | tuple):
            return [_holiday_date(item) for item in value]
        raise PydanticCustomError(
            "holidays_type", 'must be a country code such as "US" or "US-CA", or a list of dates'
        )


def _holiday_date(item: object) -> date:
    if isinstance(item, date) and not isinstance(item, datetime):
        return item
    if isinstance(item, str):
        try:
            return date.fromisoformat(item.strip())
        except ValueError:
            pass
    raise PydanticCustomError(
        "holiday_date", '"{item}" is not a date (use YYYY-MM-DD)', {"item": str(item)}
    )


class CallingRule(BaseModel):
    """A stricter local window (and days) for the numbers under some E.164 prefixes."""

    model_config = ConfigDict(extra="forbid")

    name: str
    prefixes: list[str]
    window: str
    days: list[Weekday] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("empty_name", "must not be empty")
        return value.strip()

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        if not value:
            raise PydanticCustomError("no_prefixes", "must list at least one E.164 prefix")
        for prefix in value:
            if _PREFIX_RE.fullmatch(prefix) is None:
                raise PydanticCustomError(
                    "prefix",
                    '"{prefix}" is not an E.164 prefix (a "+" and digits, e.g. "+1305")',
                    {"prefix": prefix},
                )
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return _window_field(value)

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: object) -> object:
        return None if value is None else _days_field(value)


_RULES: Final = TypeAdapter(list[CallingRule])


def parse_calling_rules(text: str) -> list[CallingRule]:
    """The JSON list of ``DIALER_CALLING_RULES``; blank means none. ``ValueError`` if invalid."""
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"calling rules: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ValueError("calling rules: must be a JSON list of rules")
    try:
        return _RULES.validate_python(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = error["loc"]
            where = f"rule {int(loc[0]) + 1}" if loc and isinstance(loc[0], int) else "rules"
            if loc and isinstance(loc[0], int) and isinstance(data[loc[0]], dict):
                name = data[loc[0]].get("name")
                if isinstance(name, str) and name.strip():
                    where += f" ({name.strip()})"
            field = ".".join(str(part) for part in loc[1:])
            problems.append(f"{where}{': ' + field if field else ''}: {error['msg']}")
        raise ValueError("calling rules: " + "; ".join(problems)) from None


# ---------------------------------------------------------------------------------------------


def wall_time_to_utc(day: date, wall: time, zone: ZoneInfo, *, later: bool) -> datetime:
    """The UTC instant of ``wall`` on ``day`` in ``zone``.

    A wall time in a skipped hour (spring forward) or a repeated hour (fall back) has two
    readings (``fold`` 0 and 1); ``later`` picks the later one, else the earlier. Window starts
    take the later and ends the earlier, so such an edge can only shorten a window.
    """
    first = datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)
    second = datetime.combine(day, wall, tzinfo=zone).replace(fold=1).astimezone(UTC)
    return max(first, second) if later else min(first, second)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {at.isoformat()}")
    return at.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class _Effective:
    """The local window and weekdays (0 = Monday) for one set of matching rules."""

    start: time
    end: time
    days: frozenset[int]

    @property
    def never(self) -> bool:
        return not self.days or self.start >= self.end


_Span = tuple[datetime, datetime]
_Zones = tuple[tuple[str, ZoneInfo], ...]


def _resolve_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _merge(spans: list[_Span]) -> list[_Span]:
    """Sorted, with overlapping or touching spans joined (zones that skipped a whole day)."""
    spans.sort()
    merged: list[_Span] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersect(left: Sequence[_Span], right: Sequence[_Span]) -> list[_Span]:
    """Two sorted lists of disjoint half-open spans → the spans in both."""
    result: list[_Span] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            result.append((start, end))
        if left[i][1] <= right[j][1]:
            i += 1
        else:
            j += 1
    return result


class CallingHours:
    """The calling windows of one campaign; build once per campaign, it caches as it answers.

    Open spans are kept per (zone tuple, matching rules, UTC date), so after warm-up a question
    is a dictionary look-up and a comparison or two. ``phone_e164`` only selects the stricter
    rules by prefix: without it no rule applies.
    """

    def __init__(self, schedule: Schedule, rules: Sequence[CallingRule] = ()) -> None:
        # Copied out of the model so that a later edit of it cannot desynchronise the caches.
        start, end = parse_window(schedule.window)
        self._window = (max(start, LEGAL_WINDOW[0]), min(end, LEGAL_WINDOW[1]))
        self._days = frozenset(WEEKDAYS.index(day) for day in schedule.days)
        self._start = None if schedule.start is None else _utc(schedule.start)
        self._end = None if schedule.end is None else _utc(schedule.end)
        self._holidays = HolidayCalendar(schedule.holidays)
        self._rules = tuple(
            (
                parse_window(rule.window),
                None if rule.days is None else frozenset(WEEKDAYS.index(d) for d in rule.days),
            )
            for rule in rules
        )
        by_prefix: dict[str, list[int]] = {}
        for index, rule in enumerate(rules):
            for prefix in rule.prefixes:
                by_prefix.setdefault(prefix, []).append(index)
        self._by_prefix = {prefix: tuple(found) for prefix, found in by_prefix.items()}
        self._prefix_lengths = tuple(sorted({len(prefix) for prefix in by_prefix}))

        self._zones: dict[tuple[str, ...], _Zones | None] = {}
        self._effective: dict[tuple[int, ...], _Effective] = {}
        self._holiday: dict[int, bool] = {}
        self._intervals: dict[tuple[str, tuple[int, ...], int], _Span | None] = {}
        self._slices: dict[tuple[tuple[str, ...], tuple[int, ...], int], tuple[_Span, ...]] = {}

    # -- the questions -----------------------------------------------------------------------

    def is_open(self, zones: Sequence[str], at: datetime, phone_e164: str | None = None) -> bool:
        at = _utc(at)
        key = tuple(zones)
        resolved = self._resolve(key)
        if resolved is None:
            return False
        rules = self._rule_key(phone_e164)
        for start, end in self._slice(key, resolved, rules, at.toordinal()):
            if start <= at < end:
                return True
        return False

    def next_open(
        self, zones: Sequence[str], after: datetime, phone_e164: str | None = None
    ) -> datetime | None:
        """The earliest instant ``>= after`` that is open (UTC), or ``None`` if there is none."""
        at = _utc(after)
        key = tuple(zones)
        resolved = self._resolve(key)
        if resolved is None:
            return None
        rules = self._rule_key(phone_e164)
        if self._effective_for(rules).never:
            return None
        if self._start is not None and at < self._start:
            at = self._start
        if self._end is not None and at >= self._end:
            return None
        day = at.toordinal()
        last = day + _HORIZON_DAYS
        if self._end is not None:
            last = min(last, self._end.toordinal())
        while day <= last:
            for start, end in self._slice(key, resolved, rules, day):
                if end > at:
                    return max(start, at)
            day += 1
        return None

    def open_until(
        self, zones: Sequence[str], at: datetime, phone_e164: str | None = None
    ) -> datetime | None:
        """When the window open at ``at`` closes (UTC); ``None`` if it is not open."""
        at = _utc(at)
        key = tuple(zones)
        resolved = self._resolve(key)
        if resolved is None:
            return None
        rules = self._rule_key(phone_e164)
        day = at.toordinal()
        for start, end in self._slice(key, resolved, rules, day):
            if start <= at < end:
                break
        else:
            return None
        # Spans are cut at UTC midnight: follow one that continues into the next day.
        for _ in range(_HORIZON_DAYS):
            day += 1
            following = self._slice(key, resolved, rules, day)
            if not following or following[0][0] != end:
                break
            end = following[0][1]
        return end

    def blocked_reason(
        self, zones: Sequence[str], at: datetime, phone_e164: str | None = None
    ) -> BlockedReason | None:
        """``None`` when open; else why not, the most lasting reason first."""
        at = _utc(at)
        key = tuple(zones)
        resolved = self._resolve(key)
        if resolved is None:
            return "unknown_zone"
        if self.is_open(key, at, phone_e164):
            return None
        if self._start is not None and at < self._start:
            return "before_start"
        if self._end is not None and at >= self._end:
            return "after_end"
        effective = self._effective_for(self._rule_key(phone_e164))
        holiday = False
        for _name, zone in resolved:
            local = at.astimezone(zone).date()
            if local.weekday() not in effective.days:
                return "day"
            holiday = holiday or self._is_holiday(local)
        return "holiday" if holiday else "outside_window"

    # -- the caches --------------------------------------------------------------------------

    def _resolve(self, key: tuple[str, ...]) -> _Zones | None:
        try:
            return self._zones[key]
        except KeyError:
            pass
        zones: list[tuple[str, ZoneInfo]] = []
        for name in key:
            zone = _resolve_zone(name) if isinstance(name, str) else None
            if zone is None:
                zones = []
                break
            zones.append((name, zone))
        if len(self._zones) >= _CACHE_LIMIT:
            self._zones.clear()
        resolved = self._zones[key] = tuple(zones) or None
        return resolved

    def _rule_key(self, phone: str | None) -> tuple[int, ...]:
        if phone is None or not self._prefix_lengths:
            return ()
        found: set[int] = set()
        for length in self._prefix_lengths:
            hit = self._by_prefix.get(phone[:length])
            if hit is not None:
                found.update(hit)
        return tuple(sorted(found))

    def _effective_for(self, rules: tuple[int, ...]) -> _Effective:
        effective = self._effective.get(rules)
        if effective is None:
            start, end = self._window
            days = self._days
            for index in rules:
                (rule_start, rule_end), rule_days = self._rules[index]
                start, end = max(start, rule_start), min(end, rule_end)
                if rule_days is not None:
                    days &= rule_days
            effective = self._effective[rules] = _Effective(start, end, days)
        return effective

    def _is_holiday(self, day: date) -> bool:
        ordinal = day.toordinal()
        holiday = self._holiday.get(ordinal)
        if holiday is None:
            holiday = self._holiday[ordinal] = day in self._holidays
        return holiday

    def _interval(
        self, name: str, zone: ZoneInfo, rules: tuple[int, ...], ordinal: int
    ) -> _Span | None:
        """The open span of one zone's local date, ignoring start and end."""
        key = (name, rules, ordinal)
        try:
            return self._intervals[key]
        except KeyError:
            pass
        effective = self._effective_for(rules)
        day = date.fromordinal(ordinal)
        span: _Span | None = None
        if not effective.never and day.weekday() in effective.days and not self._is_holiday(day):
            start = wall_time_to_utc(day, effective.start, zone, later=True)
            end = wall_time_to_utc(day, effective.end, zone, later=False)
            span = (start, end) if start < end else None
        if len(self._intervals) >= _CACHE_LIMIT:
            self._intervals.clear()
        self._intervals[key] = span
        return span

    def _slice(
        self, key: tuple[str, ...], zones: _Zones, rules: tuple[int, ...], ordinal: int
    ) -> tuple[_Span, ...]:
        """The open spans within one UTC date, sorted and disjoint."""
        slice_key = (key, rules, ordinal)
        found = self._slices.get(slice_key)
        if found is not None:
            return found
        low = datetime.fromordinal(ordinal).replace(tzinfo=UTC)
        high = low + _ONE_DAY
        if self._start is not None:
            low = max(low, self._start)
        if self._end is not None:
            high = min(high, self._end)
        spans: list[_Span] | None = None
        if low < high:
            for name, zone in zones:
                own: list[_Span] = []
                # Every offset lies within ±14 h, so the local dates of one UTC date are the
                # day before, the same and the day after.
                for local in (ordinal - 1, ordinal, ordinal + 1):
                    interval = self._interval(name, zone, rules, local)
                    if interval is not None:
                        start, end = max(interval[0], low), min(interval[1], high)
                        if start < end:
                            own.append((start, end))
                own = _merge(own)
                spans = own if spans is None else _intersect(spans, own)
                if not spans:
                    break
        result = tuple(spans or ())
        if len(self._slices) >= _CACHE_LIMIT:
            self._slices.clear()
        self._slices[slice_key] = result
        return result
