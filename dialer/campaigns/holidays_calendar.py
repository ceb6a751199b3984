"""Holiday calendars for calling windows: a country code from the ``holidays`` package
(``"US"``, ``"GB"``, ``"US-CA"`` for a country's subdivision) or a list of explicit dates.

The country calendars include observed days (in the US, Independence Day on a Saturday is
also observed on the Friday before): a campaign that skips holidays skips the day offices are
closed too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import cache

import holidays


@cache
def _supported() -> dict[str, tuple[str, ...]]:
    # Upper-cased code → the package's own subdivision codes; aliases ("UK") count as codes.
    return {
        code.upper(): tuple(subdivisions)
        for code, subdivisions in holidays.list_supported_countries(include_aliases=True).items()
    }


def normalise_country(code: str) -> str:
    """``"us-ca"`` → ``"US-CA"``: the code spelled as the package knows it, or ``ValueError``."""
    text = code.strip()
    country, dash, subdivision = text.partition("-")
    country = country.strip().upper()
    subdivisions = _supported().get(country)
    if subdivisions is None:
        raise ValueError(f'unknown country "{text}" (use a code such as "US", "GB" or "US-CA")')
    if not dash:
        return country
    wanted = subdivision.strip().upper()
    for known in subdivisions:
        if known.upper() == wanted:
            return f"{country}-{known}"
    raise ValueError(
        f'unknown subdivision "{subdivision.strip()}" of "{country}" '
        f"(known: {', '.join(subdivisions) or 'none'})"
    )


class HolidayCalendar:
    """Answers "is this local date a holiday?"; an empty calendar when given ``None``."""

    __slots__ = ("_country", "_dates")

    def __init__(self, spec: str | Iterable[date] | None) -> None:
        self._country: holidays.HolidayBase | None = None
        self._dates: frozenset[date] = frozenset()
        if isinstance(spec, str):
            country, _, subdivision = normalise_country(spec).partition("-")
            self._country = holidays.country_holidays(country, subdiv=subdivision or None)
        elif spec is not None:
            self._dates = frozenset(spec)

    def __contains__(self, day: date) -> bool:
        if self._country is not None:
            # The package fills in each year on first lookup (expand=True is its default).
            return day in self._country
        return day in self._dates
