"""Admission through whole days at a frozen clock: recipients in several US zones (and numbers
spanning two), the 2026 DST change days in New York and Los Angeles, US holidays, stricter
rules, and retries that fall after a window closed landing in the next one.

Each walk moves the clock hour by hour, ticks, and records when each recipient's first
attempt was made; the expected instants are written out by hand (UTC), not computed by the
code under test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.campaigns.schedule import CallingRule
from dialer.clock import FrozenClock
from dialer.leases import MemoryLeases
from dialer.scheduler import TickReport, tick
from tests.engine.test_scheduler import (
    ATTEMPTS,
    CR,
    Dispatcher,
    add_recipients,
    finish_queued,
    make_campaign,
    phone,
    recipient,
    settings,
)

NY = ("America/New_York",)
CHI = ("America/Chicago",)
DEN = ("America/Denver",)
PHX = ("America/Phoenix",)
LA = ("America/Los_Angeles",)
HNL = ("Pacific/Honolulu",)
CHI_NY = ("America/Chicago", "America/New_York")
DEN_LA = ("America/Denver", "America/Los_Angeles")
ZONES = {"ny": NY, "chi": CHI, "den": DEN, "phx": PHX, "la": LA, "chi_ny": CHI_NY}
ZONES |= {"den_la": DEN_LA, "hnl": HNL}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Walk:
    def __init__(self, engine: Engine, start: datetime, rules: Sequence[CallingRule] = ()) -> None:
        self.engine = engine
        self.clock = FrozenClock(start)
        self.leases = MemoryLeases()
        self.leases.restore([], self.clock.time())
        self.rules = tuple(rules)
        self.first: dict[int, datetime] = {}
        self.reports: list[TickReport] = []

    def tick(self, at: datetime) -> set[int]:
        """Tick at ``at``; the campaign_recipients admitted then (their calls end at once)."""
        self.clock.set(at)
        report = tick(
            self.engine,
            leases=self.leases,
            dispatch=Dispatcher(),
            settings=settings(),
            clock=self.clock,
            rules=self.rules,
            pending_gauge=False,
        )
        self.reports.append(report)
        with self.engine.connect() as conn:
            admitted = set(
                conn.execute(
                    sa.select(ATTEMPTS.c.campaign_recipient_id).where(
                        ATTEMPTS.c.state == "queued", ATTEMPTS.c.created_at == at
                    )
                ).scalars()
            )
        for cr_id in admitted:
            self.first.setdefault(cr_id, at)
        finish_queued(self.engine)
        return admitted

    def hourly(self, start: datetime, hours: int) -> None:
        for hour in range(hours + 1):
            self.tick(start + timedelta(hours=hour))


def people(
    engine: Engine, campaign: int, due: datetime, names: Iterable[str] = ZONES
) -> dict[str, int]:
    names = list(names)
    ids = add_recipients(
        engine, campaign, people=[(phone(), ZONES[name]) for name in names], due=due
    )
    return dict(zip(names, ids, strict=True))


def retry(engine: Engine, cr_id: int, due: datetime) -> None:
    """The recipient's call ended and its retry rule made it due again at ``due``."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(CR)
            .where(CR.c.id == cr_id)
            .values(status="pending", next_attempt_at=due, final_outcome=None)
        )


def campaign(engine: Engine, **schedule: Any) -> int:
    """A campaign with US holidays and room for everyone; one recipient due only next year
    keeps it running when everyone else is done (as a pending retry would)."""
    created = make_campaign(
        engine,
        pacing={"max_channels": 1000, "cps": 1000},
        schedule={"holidays": "US", **schedule},
    )
    add_recipients(engine, created, people=[(phone(), NY)], due=utc(2027, 6, 1))
    return created


# -- DST --------------------------------------------------------------------------------------


def test_spring_forward_2026_03_08(engine: Engine) -> None:
    """Sunday 2026-03-08: clocks go 02:00 → 03:00 local; 09:00 is an hour earlier in UTC
    than the day before (Phoenix and Honolulu keep standard time)."""
    c = campaign(engine)
    who = people(engine, c, due=utc(2026, 3, 8, 6))  # 01:00 EST, before the change
    walk = Walk(engine, utc(2026, 3, 8, 6))
    walk.tick(utc(2026, 3, 8, 6))
    # held back to 09:00 local each, DST applied
    held = {name: recipient(engine, cr_id) for name, cr_id in who.items()}
    assert {name: row.next_attempt_at for name, row in held.items()} == {
        "ny": utc(2026, 3, 8, 13),  # 09:00 EDT
        "chi": utc(2026, 3, 8, 14),  # 09:00 CDT
        "den": utc(2026, 3, 8, 15),  # 09:00 MDT
        "phx": utc(2026, 3, 8, 16),  # 09:00 MST (no DST)
        "la": utc(2026, 3, 8, 16),  # 09:00 PDT
        "chi_ny": utc(2026, 3, 8, 14),  # the later of the two
        "den_la": utc(2026, 3, 8, 16),
        "hnl": utc(2026, 3, 8, 19),  # 09:00 HST
    }
    assert {row.blocked_reason for row in held.values()} == {"outside_window"}
    walk.hourly(utc(2026, 3, 8, 7), 14)
    assert {name: walk.first[cr_id] for name, cr_id in who.items()} == {
        "ny": utc(2026, 3, 8, 13),
        "chi": utc(2026, 3, 8, 14),
        "den": utc(2026, 3, 8, 15),
        "phx": utc(2026, 3, 8, 16),
        "la": utc(2026, 3, 8, 16),
        "chi_ny": utc(2026, 3, 8, 14),
        "den_la": utc(2026, 3, 8, 16),
        "hnl": utc(2026, 3, 8, 19),
    }
    # one examination each while closed, not one per tick
    assert sum(r.blocked for r in walk.reports) == len(who)

    # retries that fall when their window has closed go to the next day's window
    retry(engine, who["ny"], utc(2026, 3, 9, 0))  # 20:00 EDT: closed (the end is exclusive)
    retry(engine, who["la"], utc(2026, 3, 9, 0))  # 17:00 PDT: open
    retry(engine, who["phx"], utc(2026, 3, 9, 3))  # 20:00 MST: closed
    retry(engine, who["den_la"], utc(2026, 3, 9, 2, 30))  # 20:30 MDT / 19:30 PDT: closed
    assert walk.tick(utc(2026, 3, 9, 0)) == {who["la"]}
    assert recipient(engine, who["ny"]).next_attempt_at == utc(2026, 3, 9, 13)
    assert walk.tick(utc(2026, 3, 9, 3)) == set()
    assert recipient(engine, who["phx"]).next_attempt_at == utc(2026, 3, 9, 16)
    assert recipient(engine, who["den_la"]).next_attempt_at == utc(2026, 3, 9, 16)
    assert walk.tick(utc(2026, 3, 9, 13)) == {who["ny"]}
    assert walk.tick(utc(2026, 3, 9, 16)) == {who["phx"], who["den_la"]}
    assert recipient(engine, who["ny"]).attempts == 2


def test_day_before_spring_forward_is_an_hour_later(engine: Engine) -> None:
    c = campaign(engine)
    who = people(engine, c, due=utc(2026, 3, 7, 6), names=["ny", "la", "phx"])
    walk = Walk(engine, utc(2026, 3, 7, 6))
    walk.hourly(utc(2026, 3, 7, 6), 12)
    assert {name: walk.first[cr_id] for name, cr_id in who.items()} == {
        "ny": utc(2026, 3, 7, 14),  # 09:00 EST
        "la": utc(2026, 3, 7, 17),  # 09:00 PST
        "phx": utc(2026, 3, 7, 16),  # 09:00 MST
    }


def test_fall_back_2026_11_01(engine: Engine) -> None:
    """Sunday 2026-11-01: clocks go 02:00 → 01:00 local; 09:00 and 20:00 are an hour later
    in UTC than the day before."""
    c = campaign(engine)
    who = people(engine, c, due=utc(2026, 11, 1, 4))  # 00:00 EDT, before the change
    walk = Walk(engine, utc(2026, 11, 1, 4))
    walk.hourly(utc(2026, 11, 1, 4), 16)
    assert {name: walk.first[cr_id] for name, cr_id in who.items()} == {
        "ny": utc(2026, 11, 1, 14),  # 09:00 EST
        "chi": utc(2026, 11, 1, 15),  # 09:00 CST
        "den": utc(2026, 11, 1, 16),  # 09:00 MST
        "phx": utc(2026, 11, 1, 16),  # 09:00 MST (as ever)
        "la": utc(2026, 11, 1, 17),  # 09:00 PST
        "chi_ny": utc(2026, 11, 1, 15),
        "den_la": utc(2026, 11, 1, 17),
        "hnl": utc(2026, 11, 1, 4),  # 18:00 HST on Saturday October 31st
    }
    # 00:30 UTC is 19:30 EST on the 1st (open) but was 20:30 EDT on October 31st (closed)
    retry(engine, who["ny"], utc(2026, 11, 2, 0, 30))
    assert walk.tick(utc(2026, 11, 2, 0, 30)) == {who["ny"]}
    # 01:00 UTC is 20:00 EST: closed, next window Monday 09:00 EST
    retry(engine, who["chi_ny"], utc(2026, 11, 2, 1))
    assert walk.tick(utc(2026, 11, 2, 1)) == set()
    assert recipient(engine, who["chi_ny"]).next_attempt_at == utc(2026, 11, 2, 15)
    # LA still open at 03:59 UTC (19:59 PST)
    retry(engine, who["la"], utc(2026, 11, 2, 3, 59))
    assert walk.tick(utc(2026, 11, 2, 3, 59)) == {who["la"]}


def test_day_before_fall_back_closes_an_hour_earlier(engine: Engine) -> None:
    c = campaign(engine)
    who = people(engine, c, due=utc(2026, 11, 1, 0, 30), names=["ny", "la"])
    walk = Walk(engine, utc(2026, 11, 1, 0, 30))
    # 20:30 EDT on Saturday October 31st: New York is closed until Sunday 09:00 EST
    assert walk.tick(utc(2026, 11, 1, 0, 30)) == {who["la"]}  # 17:30 PDT
    assert recipient(engine, who["ny"]).next_attempt_at == utc(2026, 11, 1, 14)


# -- holidays and days ------------------------------------------------------------------------


def test_thanksgiving_waits_for_the_next_day_in_each_zone(engine: Engine) -> None:
    c = campaign(engine)
    who = people(engine, c, due=utc(2026, 11, 26, 15), names=["ny", "la", "hnl"])
    walk = Walk(engine, utc(2026, 11, 26, 15))
    assert walk.tick(utc(2026, 11, 26, 15)) == set()  # 10:00 EST on Thanksgiving
    assert {name: recipient(engine, i).next_attempt_at for name, i in who.items()} == {
        "ny": utc(2026, 11, 27, 14),
        "la": utc(2026, 11, 27, 17),
        "hnl": utc(2026, 11, 27, 19),
    }
    # 04:00 UTC on the 27th is still Thanksgiving in Honolulu (18:00 HST): nobody
    walk.hourly(utc(2026, 11, 27, 4), 15)
    assert {name: walk.first[i] for name, i in who.items()} == {
        "ny": utc(2026, 11, 27, 14),
        "la": utc(2026, 11, 27, 17),
        "hnl": utc(2026, 11, 27, 19),
    }


def test_independence_day_observed_and_weekend(engine: Engine) -> None:
    # July 3rd 2026 (Friday) is the observed holiday, July 4th (Saturday) the day itself
    c = campaign(engine)
    who = people(engine, c, due=utc(2026, 7, 3, 15), names=["ny"])
    weekdays = campaign(engine, days=["mon", "tue", "wed", "thu", "fri"])
    office = people(engine, weekdays, due=utc(2026, 7, 3, 15), names=["ny"])
    walk = Walk(engine, utc(2026, 7, 3, 15))
    assert walk.tick(utc(2026, 7, 3, 15)) == set()
    assert recipient(engine, who["ny"]).next_attempt_at == utc(2026, 7, 5, 13)  # Sunday 09:00
    assert recipient(engine, office["ny"]).next_attempt_at == utc(2026, 7, 6, 13)  # Monday
    assert walk.tick(utc(2026, 7, 5, 13)) == {who["ny"]}
    assert walk.tick(utc(2026, 7, 6, 13)) == {office["ny"]}


# -- stricter rules and a campaign window -------------------------------------------------------


def test_stricter_rule_by_prefix(engine: Engine) -> None:
    florida = CallingRule(name="Florida", prefixes=["+1305"], window="08:00-20:00")
    c = campaign(engine, window="08:00-21:00")
    ids = add_recipients(
        engine,
        c,
        people=[("+12125550199", NY), ("+13055550199", NY)],
        due=utc(2026, 6, 2, 0, 30),  # 20:30 EDT on June 1st
    )
    walk = Walk(engine, utc(2026, 6, 2, 0, 30), rules=[florida])
    assert walk.tick(utc(2026, 6, 2, 0, 30)) == {ids[0]}
    assert recipient(engine, ids[1]).next_attempt_at == utc(2026, 6, 2, 12)  # 08:00 EDT
    assert walk.tick(utc(2026, 6, 2, 12)) == {ids[1]}


@pytest.mark.parametrize(
    ("window", "opens"),
    [("06:00-23:00", utc(2026, 6, 2, 12)), ("10:30-12:00", utc(2026, 6, 2, 14, 30))],
)
def test_campaign_window_is_clamped_to_legal_hours(
    engine: Engine, window: str, opens: datetime
) -> None:
    c = campaign(engine, window=window)
    (cr_id,) = add_recipients(engine, c, people=[(phone(), NY)], due=utc(2026, 6, 2, 4))
    walk = Walk(engine, utc(2026, 6, 2, 4))
    walk.tick(utc(2026, 6, 2, 4))
    assert recipient(engine, cr_id).next_attempt_at == opens
    assert walk.tick(opens - timedelta(seconds=1)) == set()
    assert walk.tick(opens) == {cr_id}
