"""Admission: turn a campaign's due recipients into queued call attempts.

One transaction per campaign and round (:func:`admit`):

1. select up to ``slots × factor`` due recipients in due order — ``campaign_id = :c AND
   status = 'pending' AND next_attempt_at <= :now``, the leading columns of
   ``ix_campaign_recipients_due``, so the cost depends on the rows taken, never on the size of
   the list (PostgreSQL: ``FOR UPDATE OF campaign_recipients SKIP LOCKED``, the campaign row
   share-locked first) — only while the campaign is ``running``;
2. in the same statement, whether each number is on ``dnc_numbers`` → ``skipped``/``dnc``;
3. the calling window in the recipient's zones (:class:`CallingHours`): an unknown zone →
   ``skipped``/``unknown_zone`` (fail closed); closed now → ``next_attempt_at`` moves to the
   next open instant with ``blocked_reason = 'outside_window'`` (no next window →
   ``skipped``/``no_window``; the campaign's end passed → ``skipped``/``after_end``);
4. open → a ``queued`` attempt is created with its call uuid and ``dispatched_at = now``; the
   recipient becomes ``active`` with ``attempts + 1`` (PostgreSQL: both in one statement for
   the whole batch).

So a round costs two statements per campaign (plus one per kind of settlement when some
recipients are skipped or held back), whatever the number of calls it admits.

The caller hands the new ids to the broker after the commit. A crash before the commit
changes nothing; a crash after it leaves queued attempts that the re-dispatcher sends again
once ``dispatched_at`` is stale.

Every recipient the batch examined is settled (skipped, moved to its next window, or admitted)
except the open ones beyond ``slots``: they stay due and come first next time.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from dialer.campaigns.schedule import CallingHours, CallingRule, Schedule
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, DncNumber, Recipient
from dialer.scheduler.capacity import RunningCampaign

#: Rows examined per slot: room for some of them to be DNC or outside their window.
FACTOR = 2
#: Batches one campaign may examine per round when the first ones were mostly held back.
MAX_BATCHES = 3
#: Who a scheduler-made change is recorded as (``claimed_by``).
BY = "scheduler"
#: The blocked_reason of a recipient waiting for its calling window to open.
OUTSIDE_WINDOW = "outside_window"
# Ids per IN (...) list: well under SQLite's bound parameter limit.
_CHUNK = 500

_CR = cast(sa.Table, CampaignRecipient.__table__)
_RECIPIENTS = cast(sa.Table, Recipient.__table__)
_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)
_DNC = cast(sa.Table, DncNumber.__table__)


@dataclass
class Admission:
    """What one campaign's round did."""

    attempt_ids: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    blocked: int = 0
    examined: int = 0
    #: Fewer open recipients were due than slots were offered: more slots would go unused.
    exhausted: bool = False


_HOURS: dict[tuple[int, str, tuple[str, ...]], CallingHours] = {}
# The last answer per campaign, by the schedule object it was for: the tick keeps one parsed
# config per campaign, so the same object comes back every round and nothing is serialised.
_LAST: dict[int, tuple[Schedule, tuple[CallingRule, ...], CallingHours]] = {}


def calling_hours(
    campaign_id: int, schedule: Schedule, rules: Sequence[CallingRule]
) -> CallingHours:
    """One :class:`CallingHours` per campaign schedule, kept across ticks (it caches by day)."""
    last = _LAST.get(campaign_id)
    if last is not None and last[0] is schedule and last[1] == tuple(rules):
        return last[2]
    key = (campaign_id, schedule.model_dump_json(), tuple(r.model_dump_json() for r in rules))
    hours = _HOURS.get(key)
    if hours is None:
        if len(_HOURS) > 1000:
            _HOURS.clear()
        hours = _HOURS[key] = CallingHours(schedule, rules)
    if len(_LAST) > 1000:
        _LAST.clear()
    _LAST[campaign_id] = (schedule, tuple(rules), hours)
    return hours


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def due_query(dialect: str, campaign_id: int, now: datetime, limit: int) -> sa.Select[Any]:
    """The due recipients of one running campaign, earliest first, with their phone, zones and
    whether the number is on the DNC list (one statement: the campaign's status, the batch and
    the DNC check together)."""
    return _due_template(dialect).params(campaign_id=campaign_id, now=now, limit=limit)


_TEMPLATES: dict[str, sa.Select[Any]] = {}


def _due_template(dialect: str) -> sa.Select[Any]:
    """:func:`due_query` with bound parameters, built once per dialect: building a statement
    and its cache key costs more than running it."""
    found = _TEMPLATES.get(dialect)
    if found is not None:
        return found
    on_dnc = (
        sa.exists()
        .where(_DNC.c.phone_e164 == _RECIPIENTS.c.phone_e164)
        .correlate(_RECIPIENTS)
        .label("on_dnc")
    )
    running = sa.select(sa.literal(1)).where(
        _CAMPAIGNS.c.id == sa.bindparam("campaign_id"), _CAMPAIGNS.c.status == "running"
    )
    if dialect == "postgresql":
        # Uncorrelated, so evaluated once before the first recipient row is read (and locked):
        # a pause or cancel holding the campaign row is waited for before this takes any
        # recipient lock (a cancel also updates the recipients: the other order deadlocks),
        # then its new status is seen and nothing is returned; one that comes later waits for
        # this admission to commit, then sees its attempts.
        running = running.with_for_update(read=True)
    query = (
        sa.select(
            _CR.c.id,
            _CR.c.recipient_id,
            _CR.c.attempts,
            _RECIPIENTS.c.phone_e164,
            _RECIPIENTS.c.timezones,
            on_dnc,
        )
        .join(_RECIPIENTS, _RECIPIENTS.c.id == _CR.c.recipient_id)
        .where(
            _CR.c.campaign_id == sa.bindparam("campaign_id"),
            _CR.c.status == "pending",
            _CR.c.next_attempt_at <= sa.bindparam("now"),
            sa.exists(running),
        )
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )
    if dialect == "postgresql":
        # The index is (campaign_id, status, next_attempt_at) without id: ordering ties by id
        # would sort every recipient sharing the earliest next_attempt_at (a campaign just
        # started: all of them, since they are all due at its start). Ties come in index
        # order instead, which costs only the rows taken.
        query = query.order_by(_CR.c.next_attempt_at).with_for_update(of=_CR, skip_locked=True)
    else:
        # SQLite indexes end with the rowid (= id): this order is the index's own.
        query = query.order_by(_CR.c.next_attempt_at, _CR.c.id)
    _TEMPLATES[dialect] = query
    return query


def _due(conn: Connection, campaign_id: int, now: datetime, limit: int) -> Sequence[sa.Row[Any]]:
    return conn.execute(
        _due_template(conn.dialect.name), {"campaign_id": campaign_id, "now": now, "limit": limit}
    ).all()


def admit(
    conn: Connection,
    campaign: RunningCampaign,
    slots: int,
    *,
    now: datetime,
    hours: CallingHours,
    factor: int = FACTOR,
    max_batches: int = MAX_BATCHES,
    by_phone: bool = True,
) -> Admission:
    """Admit up to ``slots`` due recipients of ``campaign``, in the caller's transaction.

    ``by_phone=False`` says no calling rule selects by prefix: the window then depends on the
    zones only, and is worked out once per zone set and batch.
    """
    result = Admission()
    if slots <= 0:
        return result
    config = campaign.config
    options = {
        "ring_timeout": config.ring_timeout,
        "max_duration": config.max_duration,
        "caller_id_name": config.caller_id.name,
        "variables": {"dialer_campaign_id": str(campaign.id)},
    }
    postgres = conn.dialect.name == "postgresql"
    shared = _Shared(campaign, options, now) if postgres else None
    for _ in range(max_batches):
        wanted = slots - len(result.attempt_ids)
        rows = _due(conn, campaign.id, now, wanted * factor)
        result.examined += len(rows)
        if not rows:
            result.exhausted = True
            break
        skipped: dict[str, list[int]] = {}
        blocked: list[dict[str, Any]] = []
        admitted: list[int] = []
        attempts: list[dict[str, Any]] = []
        verdicts: dict[tuple[str, ...], tuple[str | None, datetime | None]] = {}
        for row in rows:
            phone: str = row.phone_e164
            if row.on_dnc:
                skipped.setdefault("dnc", []).append(row.id)
                continue
            zones = tuple(row.timezones or ())
            known = None if by_phone else verdicts.get(zones)
            if known is None:
                reason: str | None = hours.blocked_reason(zones, now, phone)
                opens = None
                if reason is not None and reason not in ("unknown_zone", "after_end"):
                    opens = hours.next_open(zones, now, phone)
                known = verdicts[zones] = (reason, opens)
            reason, opens = known
            if reason == "unknown_zone" or reason == "after_end":
                skipped.setdefault(str(reason), []).append(row.id)
                continue
            if reason is not None:
                if opens is None:
                    skipped.setdefault("no_window", []).append(row.id)
                else:
                    blocked.append({"b_id": row.id, "b_next": opens})
                continue
            if len(admitted) >= wanted:
                continue  # open, but no slot left: stays due for the next round
            admitted.append(row.id)
            if shared is not None:
                attempts.append({"id": uuid.uuid4(), "cr_id": row.id, "phone": phone})
                continue
            attempts.append(
                {
                    "id": uuid.uuid4(),
                    "campaign_id": campaign.id,
                    "campaign_recipient_id": row.id,
                    "attempt_no": row.attempts + 1,
                    "state": "queued",
                    "state_changed_at": now,
                    "claimed_by": BY,
                    "dispatched_at": now,
                    "options": options,
                    "metadata": {
                        **config.metadata,
                        "campaignId": str(campaign.id),
                        "recipientId": str(row.recipient_id),
                    },
                    "trunk": campaign.trunk.name,
                    "to_number": phone,
                    "caller_id_number": config.caller_id.number,
                    "caller_id_name": config.caller_id.name,
                    "created_at": now,
                }
            )
        _settle(conn, now, skipped, blocked, admitted, attempts, shared)
        for why, ids in skipped.items():
            result.skipped[why] += len(ids)
        result.blocked += len(blocked)
        result.attempt_ids.extend(str(a["id"]) for a in attempts)
        if len(result.attempt_ids) >= slots:
            break
        if len(rows) < wanted * factor:
            result.exhausted = True  # the due recipients ran out
            break
    else:
        # Every batch was mostly held back: whoever remains is looked at next tick.
        result.exhausted = len(result.attempt_ids) < slots
    return result


def _settle(
    conn: Connection,
    now: datetime,
    skipped: dict[str, list[int]],
    blocked: list[dict[str, Any]],
    admitted: list[int],
    attempts: list[dict[str, Any]],
    shared: _Shared | None = None,
) -> None:
    for reason, ids in skipped.items():
        for part in _chunks(ids):
            conn.execute(
                sa.update(_CR)
                .where(_CR.c.id.in_(part), _CR.c.status == "pending")
                .values(status="skipped", final_outcome=reason, blocked_reason=None, updated_at=now)
            )
    if blocked:
        conn.execute(
            sa.update(_CR)
            .where(_CR.c.id == sa.bindparam("b_id"), _CR.c.status == "pending")
            .values(
                next_attempt_at=sa.bindparam("b_next"),
                blocked_reason=OUTSIDE_WINDOW,
                updated_at=now,
            ),
            blocked,
        )
    if not admitted:
        return
    if shared is not None:
        _admit_postgres(conn, shared, attempts)
        return
    won: set[int] = set()
    for part in _chunks(admitted):
        won.update(
            conn.execute(
                sa.update(_CR)
                .where(_CR.c.id.in_(part), _CR.c.status == "pending")
                .values(
                    status="active",
                    attempts=_CR.c.attempts + 1,
                    blocked_reason=None,
                    # while active it holds only a call back asked during the call
                    next_attempt_at=None,
                    updated_at=now,
                )
                .returning(_CR.c.id)
            ).scalars()
        )
    # A recipient changed meanwhile (cancelled, on SQLite where nothing is locked) gets
    # no attempt.
    attempts[:] = [a for a in attempts if a["campaign_recipient_id"] in won]
    # An executemany of one statement: compiled once and cached, whatever the row count (a
    # multi-row VALUES is compiled anew for every batch).
    if attempts:
        conn.execute(sa.insert(_ATTEMPTS), attempts)


@dataclass(frozen=True)
class _Shared:
    """What every attempt of one campaign's batch has in common (PostgreSQL admission)."""

    campaign: RunningCampaign
    options: dict[str, Any]
    now: datetime

    def params(self) -> dict[str, Any]:
        config = self.campaign.config
        return {
            "campaign_id": self.campaign.id,
            "now": self.now,
            "by": BY,
            "options": json.dumps(self.options),
            "metadata": json.dumps({**config.metadata, "campaignId": str(self.campaign.id)}),
            "trunk": self.campaign.trunk.name,
            "cid_number": config.caller_id.number,
            "cid_name": config.caller_id.name,
            **{f"d_{name}": value for name, value in _DEFAULTS.items()},
        }


# The columns the admission sets; every other one with a Python-side default gets it.
_SET = (
    "id, campaign_id, campaign_recipient_id, attempt_no, state, state_changed_at, claimed_by, "
    "dispatched_at, options, metadata, trunk, to_number, caller_id_number, caller_id_name, "
    "created_at"
)
_DEFAULTS: dict[str, Any] = {
    column.name: column.default.arg
    for column in _ATTEMPTS.c
    if column.name not in _SET.split(", ")
    and isinstance(column.default, ScalarElementColumnDefault)
}
_LEFT_OUT = [
    c.name
    for c in _ATTEMPTS.c
    if c.name not in _SET.split(", ") and c.default is not None and c.name not in _DEFAULTS
]
if _LEFT_OUT:  # a callable default the statement below would silently leave out
    raise RuntimeError(f"call_attempts columns with a callable default: {_LEFT_OUT}")
# One statement for the whole batch whatever its size: the recipients become active and their
# attempts are inserted from arrays (one parameter per column, so the statement is the same
# text every time and nothing is compiled again). A recipient changed meanwhile is not in
# ``won`` and gets no attempt.
_ADMIT_POSTGRES = sa.text(
    f"""
WITH won AS (
    UPDATE {_CR.name} SET status = 'active', attempts = attempts + 1, blocked_reason = NULL,
        next_attempt_at = NULL, updated_at = :now
    WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'pending'
    RETURNING id, recipient_id, attempts
)
INSERT INTO {_ATTEMPTS.name} ({_SET}{"".join(f", {name}" for name in _DEFAULTS)})
SELECT v.id, :campaign_id, won.id, won.attempts, 'queued', :now, :by, :now,
    CAST(:options AS jsonb),
    CAST(:metadata AS jsonb) || jsonb_build_object('recipientId', won.recipient_id::text),
    :trunk, v.phone, :cid_number, :cid_name, :now{"".join(f", :d_{name}" for name in _DEFAULTS)}
FROM unnest(CAST(:uuids AS uuid[]), CAST(:ids AS bigint[]), CAST(:phones AS text[]))
    AS v (id, cr_id, phone)
JOIN won ON won.id = v.cr_id
RETURNING id
"""
)


def _admit_postgres(conn: Connection, shared: _Shared, attempts: list[dict[str, Any]]) -> None:
    params = shared.params()
    # Array literals joined here: uuids, integers and E.164 numbers need no quoting, and one
    # text parameter costs far less to send than a list adapted item by item.
    params["uuids"] = "{" + ",".join(str(a["id"]) for a in attempts) + "}"
    params["ids"] = "{" + ",".join(str(a["cr_id"]) for a in attempts) + "}"
    params["phones"] = "{" + ",".join(a["phone"] for a in attempts) + "}"
    won = set(conn.execute(_ADMIT_POSTGRES, params).scalars())
    attempts[:] = [a for a in attempts if a["id"] in won]
