"""The summary of a campaign: its funnel, its rates, queue waits, and abandonment against the
limit (DESIGN §10: answered humans given no agent within 2 s, over a rolling 30 days).

Counts are of call attempts (a recipient called twice counts twice). The attempts' few columns
the summary needs go into a pandas frame and the figures are computed there:

* dialled: sent to the switch; answered: with an answer time; human: answered and not a
  machine by AMD (a call without AMD, or AMD unsure, counts as human); pressed: the IVR took
  the campaign's digit (``ivr_result`` digit_pressed, opt-outs not counted); queued: handed to
  a queue; agent answered: the queue's agent took it.
* answer rate = answered / dialled; AMD machine rate = machines / answered calls with AMD;
  press-1 rate = pressed / human; queue wait = average and 90th percentile (linear) of the
  waits of queued calls; abandonment = abandoned / queue handoffs, of the calls answered in
  the last 30 days, against the 3 % limit.

A rate is ``None`` when nothing is there to divide by.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.clock import get_clock
from dialer.db.models import CallAttempt
from dialer.reports.cells import iso
from dialer.reports.outcomes import check_campaign
from dialer.reports.stream import stream

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)

#: The abandonment limit (a share of queue handoffs) and the window it is measured over.
ABANDON_LIMIT = 0.03
ABANDON_WINDOW = timedelta(days=30)

_COLUMNS = (
    "created_at", "originate_sent_at", "started_at", "answered_at", "amd_enabled", "amd_result",
    "ivr_result", "outcome", "handoff_type", "queue_name", "queue_result", "queue_wait_seconds",
    "abandoned",
)  # fmt: skip


def campaign_summary(
    engine: Engine, campaign_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """The summary of campaign ``campaign_id`` (see the module). Raises
    :class:`~dialer.reports.outcomes.CampaignNotFoundError`."""
    check_campaign(engine, campaign_id)
    return summarise(attempts_frame(engine, campaign_id), campaign_id, now or get_clock().now())


def attempts_frame(engine: Engine, campaign_id: int, extra: Sequence[str] = ()) -> pd.DataFrame:
    """One row per attempt of the campaign: the columns the summary needs, then ``extra``
    (the chart's, so both come from one pass over the attempts)."""
    columns = [*_COLUMNS, *(name for name in extra if name not in _COLUMNS)]
    a = _ATTEMPTS
    query = sa.select(*(a.c[name] for name in columns)).where(a.c.campaign_id == campaign_id)
    return pd.DataFrame.from_records(
        (tuple(row.values()) for row in stream(engine, query)), columns=columns
    )


def summarise(frame: pd.DataFrame, campaign_id: int, now: datetime) -> dict[str, Any]:
    """The figures of attempts ``frame`` (one row per attempt, the columns of ``_COLUMNS``)."""
    dialled = frame["originate_sent_at"].notna() | frame["started_at"].notna()
    answered = frame["answered_at"].notna()
    amd = frame["amd_enabled"].eq(True)
    machine = answered & frame["amd_result"].eq("machine")
    human = answered & ~machine
    pressed = human & frame["ivr_result"].eq("digit_pressed") & frame["outcome"].ne("opted_out")
    queued = frame["handoff_type"].eq("queue") | frame["queue_name"].notna()
    agent = queued & frame["queue_result"].eq("answered")
    waits = pd.to_numeric(frame.loc[queued, "queue_wait_seconds"], errors="coerce").dropna()

    since = now - ABANDON_WINDOW
    when = pd.to_datetime(frame["answered_at"].fillna(frame["created_at"]), utc=True)
    recent = queued & (when >= pd.Timestamp(since))
    handoffs = int(recent.sum())
    abandoned = int((recent & frame["abandoned"].eq(True)).sum())
    rate = _rate(abandoned, handoffs)
    return {
        "campaign_id": campaign_id,
        "funnel": {
            "dialled": int(dialled.sum()),
            "answered": int(answered.sum()),
            "human": int(human.sum()),
            "pressed": int(pressed.sum()),
            "queued": int(queued.sum()),
            "agent_answered": int(agent.sum()),
        },
        "answer_rate": _rate(int(answered.sum()), int(dialled.sum())),
        "amd_machine_rate": _rate(int(machine.sum()), int((answered & amd).sum())),
        "press1_rate": _rate(int(pressed.sum()), int(human.sum())),
        "queue_wait": {
            "average_seconds": None if waits.empty else round(float(waits.mean()), 3),
            "p90_seconds": None if waits.empty else round(float(waits.quantile(0.9)), 3),
        },
        "abandonment": {
            "since": iso(since),
            "handoffs": handoffs,
            "abandoned": abandoned,
            "rate": rate,
            "limit": ABANDON_LIMIT,
            "over_limit": rate is not None and rate > ABANDON_LIMIT,
        },
    }


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)
