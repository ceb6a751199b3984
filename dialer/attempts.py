"""Moving a call attempt through its states, and ending it (the engine contract).

Two functions, both run in the caller's transaction (they never commit), each with a batch
sibling that does the same for many attempts in a constant number of statements
(:func:`mark_attempts`, :func:`finalise_attempts`):

- :func:`mark_attempt` moves a live attempt *forward* with a compare-and-set:
  queued → originating → ringing → answered, never backwards and never out of ``ended`` or
  ``cancelled``. A late CHANNEL_PROGRESS after CHANNEL_ANSWER changes nothing.
- :func:`finalise_attempt` ends it. Only the caller whose ``UPDATE … WHERE state IN (live)``
  matched the row continues ("the winner"): it releases the attempt's lease and applies the
  campaign's retry rule to the recipient. The worker (on ``-ERR``), the consumer (hangup) and
  the sweeper all end attempts through it, so whoever comes second changes nothing.

A batch locks its attempts first (``SELECT … FOR UPDATE`` in id order; SQLite: the write
lock) and decides in Python who moves and who wins; its UPDATEs keep the compare-and-set.
The statements are Core ones on the tables: objects loaded in the caller's session are not
refreshed by them.

Metrics of ended attempts are counted after the transaction commits (a rolled-back batch
that is retried is not counted twice).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    Text,
    any_,
    bindparam,
    column,
    event,
    func,
    inspect,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from dialer.campaigns.model import CampaignConfig, CampaignConfigError, parse_config
from dialer.campaigns.schedule import CallingHours
from dialer.clock import Clock, get_clock
from dialer.config import get_settings
from dialer.db.models import (
    FINAL_RECIPIENT_STATUSES,
    CallAttempt,
    Campaign,
    CampaignRecipient,
    Recipient,
)
from dialer.leases.backend import LeaseBackend

log = logging.getLogger(__name__)

#: The order a live attempt moves in; ``mark_attempt`` only ever moves right.
FORWARD_STATES = ("queued", "originating", "ringing", "answered")
#: The webhook event every ended attempt sends (dialer.lifecycle.COMPLETED).
COMPLETED_EVENT = "campaign.completed"
#: States an attempt can still be ended from.
ENDABLE_STATES = FORWARD_STATES


def _as_uuid(attempt_id: uuid.UUID | str) -> uuid.UUID:
    return attempt_id if isinstance(attempt_id, uuid.UUID) else uuid.UUID(str(attempt_id))


# -- the rows a batch decides on ------------------------------------------------------------

#: An attempt as a batch reads it under the lock: (state, campaign id, campaign recipient id).
Locked = tuple[str, int | None, int | None]

_ATTEMPTS = cast(Table, CallAttempt.__table__)
_RECIPIENTS = cast(Table, CampaignRecipient.__table__)
_PEOPLE = cast(Table, Recipient.__table__)
_CAMPAIGNS = cast(Table, Campaign.__table__)
#: CallAttempt attribute name → its column (``call_metadata`` is the column ``metadata``)
_COLUMNS = dict(inspect(CallAttempt).columns.items())
_RANK = {state: n for n, state in enumerate(FORWARD_STATES)}


def hold_write_lock(session: Session) -> None:
    """Make what this transaction reads next authoritative for what it writes after it.

    PostgreSQL: nothing to do, the reads lock their rows (``FOR UPDATE``). SQLite: pysqlite
    opens its transaction only at the first INSERT or UPDATE, so a SELECT before that reads
    outside any transaction and another writer may commit between our read and our write;
    ``BEGIN IMMEDIATE`` takes the database's write lock first (SQLite serialises writers
    anyway; a transaction that has written already holds it).
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    if not getattr(conn.connection.dbapi_connection, "in_transaction", True):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def one_of(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter: the
    statement's text stays the same whatever the number of values (psycopg parses every new
    text again and never caches a long one)."""
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)
    return column.in_(list(values))


def lock_attempts(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Locked]:
    """The attempts' state, campaign and campaign recipient, locked until the transaction
    ends: rows are taken in id order, so two batches never wait on each other in a cycle."""
    session.flush()  # the statements below are Core: they do not flush the session
    hold_write_lock(session)
    a = _ATTEMPTS
    rows = session.connection().execute(
        select(a.c.id, a.c.state, a.c.campaign_id, a.c.campaign_recipient_id)
        .where(one_of(session, a.c.id, ids))
        .order_by(a.c.id)
        .with_for_update()
    )
    return {row[0]: (row[1], row[2], row[3]) for row in rows.all()}


def _check_columns(names: Iterable[str], reserved: Collection[str]) -> None:
    unknown = sorted(n for n in names if n not in _COLUMNS or n in reserved)
    if unknown:
        raise TypeError(f"unknown or reserved call_attempts column(s): {', '.join(unknown)}")


#: ``p(name)``: a row's value in a statement built for :func:`update_many`.
RowValue = Callable[[str], Any]


def update_many(
    session: Session,
    build: Callable[[RowValue], Any],
    rows: list[dict[str, Any]],
    types: Mapping[str, Any],
) -> Any:
    """One UPDATE for all ``rows`` (dicts with the keys of ``types``, their SQL types);
    ``build(p)`` makes the statement, ``p(name)`` standing for a row's value.

    PostgreSQL: the rows travel as one JSON document that ``jsonb_to_recordset`` turns into
    a relation the UPDATE joins (``UPDATE … FROM``): one parameter and the same text whatever
    the rows, where an executemany costs psycopg ~20 µs of CPU per row. Elsewhere, and for
    one row (plain parameters are cheaper there): bind parameters, an executemany for many.
    Each target row must appear at most once. Returns the result; its rowcount is the
    number of rows updated.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql" and len(rows) > 1:
        source = (
            func.jsonb_to_recordset(sql_cast(bindparam("b_rows", type_=Text), JSONB))
            .table_valued(*(column(name, type_) for name, type_ in types.items()))
            .render_derived("b", with_types=True)
        )
        stmt = build(lambda name: source.c[name])
        return conn.execute(stmt, {"b_rows": json.dumps(rows, default=_json_value)})
    return conn.execute(build(lambda name: bindparam(name, type_=types[name])), rows)


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:  # as UTCDateTime refuses it: a time without a zone is a bug
            raise ValueError(f"naive datetime {value.isoformat()} stored; give it a zone")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


#: JSON document columns a write merges its keys into, never replacing the document: other
#: parts of the product write other keys of ``ai`` (the AI agent's ``toolCalls``).
MERGED_COLUMNS = frozenset({"ai"})


def merged_document(name: str, value: Any, dialect: str) -> Any:
    """``column`` with the keys of ``value`` (JSON text; NULL leaves the column as it is)."""
    col = _COLUMNS[name]
    doc: Any
    if dialect == "postgresql":
        doc = func.coalesce(col, literal_column("'{}'::jsonb")).op("||")(sql_cast(value, JSONB))
    else:
        doc = func.json_patch(func.coalesce(col, literal_column("'{}'")), value)
    return func.coalesce(doc, col)


def _merged_text(name: str, value: Any) -> Any:
    """A merged column's value as the statements take it: JSON text."""
    if name in MERGED_COLUMNS and value is not None and not isinstance(value, str):
        return json.dumps(value, default=_json_value, sort_keys=True)
    return value


def _given(names: Iterable[str], p: RowValue, dialect: str) -> dict[Any, Any]:
    """``column = COALESCE(row's b_name, column)`` for each attribute name: a row that has
    None for it leaves the column as it is, so rows that give different columns share one
    statement. A merged column (``MERGED_COLUMNS``) takes the row's keys into its document."""
    return {
        _COLUMNS[name]: merged_document(name, p(f"b_{name}"), dialect)
        if name in MERGED_COLUMNS
        else func.coalesce(p(f"b_{name}"), _COLUMNS[name])
        for name in names
    }


def _given_types(names: Iterable[str]) -> dict[str, Any]:
    return {
        f"b_{name}": Text() if name in MERGED_COLUMNS else _COLUMNS[name].type for name in names
    }


def _dialect(session: Session) -> str:
    return str(session.get_bind().dialect.name)


def _plain_or_merged(name: str, value: Any, dialect: str) -> Any:
    """One row's value of a column: as it is, or merged into a merged column's document."""
    if name not in MERGED_COLUMNS:
        return value
    return merged_document(name, bindparam(None, _merged_text(name, value), type_=Text), dialect)


def expect_rowcount(result: Any, expected: int, what: str) -> None:
    """Under the lock every row decided on must match; anything else means the lock did not
    hold, and the transaction must not commit half of a batch's decisions (it raises, the
    transaction rolls back)."""
    if result.context.dialect.supports_sane_multi_rowcount and result.rowcount != expected:
        raise RuntimeError(f"{what}: {result.rowcount} of {expected} rows matched under lock")


# -- moving forward -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptMove:
    """One forward move of :func:`mark_attempts` (the arguments of :func:`mark_attempt`)."""

    attempt_id: uuid.UUID | str
    state: str
    at: datetime
    #: CallAttempt columns written with the move; None leaves a column as it is
    columns: Mapping[str, Any] = field(default_factory=dict)


def mark_attempt(
    session: Session,
    attempt_id: uuid.UUID | str,
    state: str,
    *,
    by: str,
    at: datetime,
    **columns: Any,
) -> bool:
    """Move the attempt to ``state`` if it is in an earlier live state; True if it moved.

    ``columns`` (CallAttempt attribute names: ``answered_at``, ``core_uuid``, ``fs_node``…)
    are written in the same UPDATE, only when it moves (None leaves a column as it is).
    ``at`` is ``state_changed_at``, ``by`` goes to ``claimed_by``.
    """
    return bool(mark_attempts(session, [AttemptMove(attempt_id, state, at, columns)], by=by))


def mark_attempts(session: Session, moves: Sequence[AttemptMove], *, by: str) -> list[uuid.UUID]:
    """:func:`mark_attempt` for each move, in order, in a constant number of statements;
    the attempts that moved (each once). A later move of the same attempt sees the state the
    earlier one left."""
    for move in moves:
        _check_move(move)
    if not moves:
        return []
    if len(moves) == 1:
        # one row: its compare-and-set says by itself whether it moved, no lock needed
        move = moves[0]
        earlier = FORWARD_STATES[: _RANK[move.state]]
        if not earlier:
            return []
        session.flush()  # the statement is Core: it does not flush the session
        a = _ATTEMPTS
        aid = _as_uuid(move.attempt_id)
        values: dict[Any, Any] = {
            a.c.state: move.state,
            a.c.state_changed_at: move.at,
            a.c.claimed_by: by,
        }
        for name, value in move.columns.items():
            if value is not None:
                values[_COLUMNS[name]] = _plain_or_merged(name, value, _dialect(session))
        done = session.connection().execute(
            update(a).where(a.c.id == aid, a.c.state.in_(earlier)).values(values)
        )
        return [aid] if _rowcount(done) == 1 else []
    locked = lock_attempts(session, {_as_uuid(m.attempt_id) for m in moves})
    return mark_locked_attempts(session, moves, locked, by=by)


def mark_locked_attempts(
    session: Session, moves: Sequence[AttemptMove], locked: dict[uuid.UUID, Locked], *, by: str
) -> list[uuid.UUID]:
    """:func:`mark_attempts` of attempts this transaction has locked (:func:`lock_attempts`,
    or a ``SELECT … FOR UPDATE`` of its own): ``locked`` holds them as read under the lock
    and is kept up to date with the moves."""
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    given: set[str] = set()
    for move in moves:
        _check_move(move)
        aid = _as_uuid(move.attempt_id)
        found = locked.get(aid)
        if found is None or _RANK.get(found[0], len(FORWARD_STATES)) >= _RANK[move.state]:
            continue
        # a second move of one attempt folds into its row: one UPDATE changes a row once
        row = rows.setdefault(aid, {"b_id": aid, "b_expected": found[0], "b_by": by})
        row.update(b_state=move.state, b_at=move.at)
        for name, value in move.columns.items():
            if value is not None or f"b_{name}" not in row:
                row[f"b_{name}"] = _merged_text(name, value)
            given.add(name)
        locked[aid] = (move.state, found[1], found[2])
    if not rows:
        return []
    for row in rows.values():  # every row has every value
        for name in given:
            row.setdefault(f"b_{name}", None)
    a = _ATTEMPTS
    names = sorted(given)
    dialect = _dialect(session)

    def build(p: RowValue) -> Any:
        values: dict[Any, Any] = {
            a.c.state: p("b_state"),
            a.c.state_changed_at: p("b_at"),
            a.c.claimed_by: p("b_by"),
            **_given(names, p, dialect),
        }
        # the lock makes the state known; the compare-and-set stays as the proof
        return update(a).where(a.c.id == p("b_id"), a.c.state == p("b_expected")).values(values)

    types = {
        "b_id": a.c.id.type,
        "b_expected": a.c.state.type,
        "b_state": a.c.state.type,
        "b_at": a.c.state_changed_at.type,
        "b_by": a.c.claimed_by.type,
        **_given_types(names),
    }
    done = update_many(session, build, list(rows.values()), types)
    expect_rowcount(done, len(rows), "mark_attempts")
    return list(rows)


def _check_move(move: AttemptMove) -> None:
    if move.state not in FORWARD_STATES:
        raise ValueError(
            f"mark_attempt moves to one of {', '.join(FORWARD_STATES)}; "
            f"use finalise_attempt to end an attempt (got {move.state!r})"
        )
    if move.columns:
        _check_columns(move.columns, _MOVE_RESERVED)


_MOVE_RESERVED = frozenset({"id", "state", "state_changed_at", "claimed_by"})

# -- ending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRules:
    """What the finaliser needs of a campaign: its parsed config and calling hours."""

    config: CampaignConfig | None  # None: the stored config does not parse (no retries)
    hours: CallingHours | None


_rules_lock = threading.Lock()
#: campaign id → (the stored config it was parsed from, the rules)
_rules_cache: dict[int, tuple[dict[str, Any], CampaignRules]] = {}
_RULES_CACHE_LIMIT = 10_000


def campaign_rules(campaign_id: int, config: dict[str, Any]) -> CampaignRules:
    """The campaign's parsed config and calling hours, cached per campaign (configs never
    change while a campaign runs; an edited draft's new config is parsed again)."""
    found = _rules_cache.get(campaign_id)
    if found is not None and found[0] == config:
        return found[1]
    try:
        parsed: CampaignConfig | None = parse_config(config)
    except CampaignConfigError as exc:
        log.warning("campaign %s: stored config does not parse (%s); no retries", campaign_id, exc)
        parsed = None
    # the operator's stricter rules (DIALER_CALLING_RULES) bind retries as they bind admission
    strict = get_settings().calling_rules
    rules = CampaignRules(parsed, CallingHours(parsed.schedule, strict) if parsed else None)
    with _rules_lock:
        if len(_rules_cache) >= _RULES_CACHE_LIMIT:
            _rules_cache.clear()
        _rules_cache[campaign_id] = (copy.deepcopy(config), rules)
    return rules


def clear_campaign_rules_cache() -> None:
    with _rules_lock:
        _rules_cache.clear()


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """One end of :func:`finalise_attempts` (the arguments of :func:`finalise_attempt`)."""

    attempt_id: uuid.UUID | str
    outcome: str
    hangup_cause: str | None
    ended_at: datetime
    answered_at: datetime | None = None
    billsec: int | None = None
    error: str | None = None
    #: more lifecycle facts written by the same UPDATE (CallAttempt attribute names:
    #: ``core_uuid``, ``started_at``, ``ring_duration_sec``…); None leaves a column as it is;
    #: ``ai`` (a mapping or its JSON text) is merged into the document (``MERGED_COLUMNS``)
    columns: Mapping[str, Any] = field(default_factory=dict)

    def optional(self) -> dict[str, Any]:
        """The columns written only when given."""
        values = {name: value for name, value in self.columns.items() if value is not None}
        if self.answered_at is not None:
            values["answered_at"] = self.answered_at
        if self.billsec is not None:
            values["billsec"] = self.billsec
        if self.error is not None:
            values["error"] = self.error
        return values


_END_RESERVED = frozenset(
    {
        "id",
        "state",
        "outcome",
        "hangup_cause",
        "ended_at",
        "state_changed_at",
        "claimed_by",
        "answered_at",
        "billsec",
        "error",
    }
)


def finalise_attempt(
    session: Session,
    attempt_id: uuid.UUID | str,
    *,
    outcome: str,
    hangup_cause: str | None,
    ended_at: datetime,
    by: str,
    answered_at: datetime | None = None,
    billsec: int | None = None,
    error: str | None = None,
    leases: LeaseBackend | None,
    clock: Clock | None = None,
) -> bool:
    """End the attempt (state ``ended`` with ``outcome``) if it is still live; True if this
    call won. The winner releases the lease (id = attempt id) and moves the recipient on:
    retried (``pending`` at the next open instant after the rule's delay), ``skipped``
    (``no_window``: no open instant left), ``cancelled`` (a retry of a cancelled campaign) or
    ``done``. ``answered_at``/``billsec`` are written only when given (never cleared).
    """
    end = AttemptEnd(attempt_id, outcome, hangup_cause, ended_at, answered_at, billsec, error)
    return bool(finalise_attempts(session, [end], by=by, leases=leases, clock=clock))


def finalise_attempts(
    session: Session,
    ends: Sequence[AttemptEnd],
    *,
    by: str,
    leases: LeaseBackend | None,
    clock: Clock | None = None,
    emit: bool = True,
) -> list[uuid.UUID]:
    """:func:`finalise_attempt` for each end, in order, in a constant number of statements
    and one lease round trip; returns the winners, in order. An attempt named twice is ended
    once, by its first end. Each winner's ``campaign.completed`` goes to the webhook outbox in
    the same transaction (``emit=False``: the caller writes it with the call's other events)."""
    clock = clock or get_clock()
    if not ends:
        return []
    for end in ends:
        _check_columns(end.columns, _END_RESERVED)
    if len(ends) == 1:
        # one row: UPDATE … RETURNING says by itself who won, no lock needed
        return _finalise_one(session, ends[0], by=by, leases=leases, clock=clock, emit=emit)
    locked = lock_attempts(session, {_as_uuid(end.attempt_id) for end in ends})
    return finalise_locked_attempts(
        session, ends, locked, by=by, leases=leases, clock=clock, emit=emit
    )


def finalise_locked_attempts(
    session: Session,
    ends: Sequence[AttemptEnd],
    locked: dict[uuid.UUID, Locked],
    *,
    by: str,
    leases: LeaseBackend | None,
    clock: Clock,
    emit: bool = True,
) -> list[uuid.UUID]:
    """:func:`finalise_attempts` of attempts this transaction has locked
    (:func:`lock_attempts`, or a ``SELECT … FOR UPDATE`` of its own): ``locked`` holds them
    as read under the lock and is kept up to date with the ends."""
    now = clock.now()
    rows: list[dict[str, Any]] = []
    winners: list[_Won] = []
    given: set[str] = set()
    for end in ends:
        aid = _as_uuid(end.attempt_id)
        found = locked.get(aid)
        if found is None or found[0] not in ENDABLE_STATES:
            continue
        _check_columns(end.columns, _END_RESERVED)
        locked[aid] = ("ended", found[1], found[2])
        row = {
            "b_id": aid,
            "b_expected": found[0],
            "b_outcome": end.outcome,
            "b_cause": end.hangup_cause,
            "b_ended_at": end.ended_at,
            "b_now": now,
            "b_by": by,
        }
        for name, value in end.optional().items():
            row[f"b_{name}"] = _merged_text(name, value)
            given.add(name)
        rows.append(row)
        winners.append((aid, found[1], found[2], end))
    if not rows:
        return []
    for row in rows:  # every row has every value
        for name in given:
            row.setdefault(f"b_{name}", None)
    a = _ATTEMPTS
    names = sorted(given)
    dialect = _dialect(session)

    def build(p: RowValue) -> Any:
        values: dict[Any, Any] = {
            a.c.state: "ended",
            a.c.outcome: p("b_outcome"),
            a.c.hangup_cause: p("b_cause"),
            a.c.ended_at: p("b_ended_at"),
            a.c.state_changed_at: p("b_now"),
            a.c.claimed_by: p("b_by"),
            **_given(names, p, dialect),
        }
        # the lock makes the state known; the compare-and-set stays as the proof
        return update(a).where(a.c.id == p("b_id"), a.c.state == p("b_expected")).values(values)

    types = {
        "b_id": a.c.id.type,
        "b_expected": a.c.state.type,
        "b_outcome": a.c.outcome.type,
        "b_cause": a.c.hangup_cause.type,
        "b_ended_at": a.c.ended_at.type,
        "b_now": a.c.state_changed_at.type,
        "b_by": a.c.claimed_by.type,
        **_given_types(names),
    }
    expect_rowcount(update_many(session, build, rows, types), len(rows), "finalise_attempts")
    return _after_end(session, winners, leases=leases, now=now, emit=emit)


#: A winner: (attempt id, campaign id, campaign recipient id, its end).
_Won = tuple[uuid.UUID, int | None, int | None, AttemptEnd]


def _finalise_one(
    session: Session,
    end: AttemptEnd,
    *,
    by: str,
    leases: LeaseBackend | None,
    clock: Clock,
    emit: bool,
) -> list[uuid.UUID]:
    session.flush()  # the statements are Core: they do not flush the session
    now = clock.now()
    aid = _as_uuid(end.attempt_id)
    a = _ATTEMPTS
    values: dict[Any, Any] = {
        a.c.state: "ended",
        a.c.outcome: end.outcome,
        a.c.hangup_cause: end.hangup_cause,
        a.c.ended_at: end.ended_at,
        a.c.state_changed_at: now,
        a.c.claimed_by: by,
    }
    for name, value in end.optional().items():
        values[_COLUMNS[name]] = _plain_or_merged(name, value, _dialect(session))
    won = (
        session.connection()
        .execute(
            update(a)
            .where(a.c.id == aid, a.c.state.in_(ENDABLE_STATES))
            .values(values)
            .returning(a.c.campaign_id, a.c.campaign_recipient_id)
        )
        .first()
    )  # RETURNING: a row only for the winner
    if won is None:
        return []
    return _after_end(session, [(aid, won[0], won[1], end)], leases=leases, now=now, emit=emit)


def _after_end(
    session: Session,
    winners: Sequence[_Won],
    *,
    leases: LeaseBackend | None,
    now: datetime,
    emit: bool,
) -> list[uuid.UUID]:
    """What the winners do: release their leases, count their metrics, move their campaign
    recipients through the retry rules, tell the webhook outbox."""
    if leases is not None:
        leases.release_many([str(aid) for aid, *_ in winners])
    for _aid, campaign_id, _rid, end in winners:
        _count_after_commit(
            session,
            "single" if campaign_id is None else str(campaign_id),
            end.outcome,
            end.hangup_cause,
            {name: end.columns.get(name) for name in _FLOW_METRIC_COLUMNS},
        )
    _move_recipients(
        session,
        [(cid, rid, end) for _aid, cid, rid, end in winners if cid is not None and rid is not None],
        now,
    )
    if emit:
        from dialer.webhooks.outbox import enqueue  # the outbox reads attempts: no cycle

        enqueue(session, [(aid, (COMPLETED_EVENT,)) for aid, *_ in winners], now=now)
    return [aid for aid, *_ in winners]


#: outcomes after which a call back asked during the call is not placed
_NO_CALLBACK_OUTCOMES = frozenset({"opted_out", "invalid_number"})


def _move_recipients(
    session: Session, ended: Sequence[tuple[int, int, AttemptEnd]], now: datetime
) -> None:
    """Each ended campaign attempt moves its recipient (one SELECT … FOR UPDATE of them all,
    one executemany UPDATE); in order, as one by one: a recipient settled by an earlier end
    of the batch is not moved again."""
    if not ended:
        return
    cr, r, c = _RECIPIENTS, _PEOPLE, _CAMPAIGNS
    found = session.connection().execute(
        select(
            cr.c.id,
            cr.c.status,
            cr.c.attempts,
            cr.c.next_attempt_at,
            r.c.timezones,
            r.c.phone_e164,
            c.c.status,
            # the document as text: it is decoded once per campaign, not once per row
            sql_cast(c.c.config, Text),
        )
        .select_from(cr.join(r, r.c.id == cr.c.recipient_id).join(c, c.c.id == cr.c.campaign_id))
        .where(one_of(session, cr.c.id, {rid for _, rid, _ in ended}))
        .order_by(cr.c.id)
        .with_for_update(of=cr)
    )
    current = {row[0]: list(row[1:]) for row in found.all()}
    configs: dict[int, CampaignRules] = {}
    changes: dict[int, dict[str, Any]] = {}
    for campaign_id, rid, end in ended:
        progress = current[rid]
        status, attempts, callback, zones, phone, campaign_status, config = progress
        if status in FINAL_RECIPIENT_STATUSES:
            continue  # already settled (cancelled with its campaign, or earlier in the batch)
        if (
            status == "active"
            and callback is not None
            and campaign_status != "cancelled"
            and end.outcome not in _NO_CALLBACK_OUTCOMES
        ):
            # the admission clears next_attempt_at: set while active, it is a call back the
            # callee asked for during this call (the AI agent's schedule_callback), already
            # placed inside the calling window; it wins over the retry rules
            progress[0] = "pending"
            changes[rid] = {"status": "pending", "final_outcome": None, "next_attempt_at": callback}
            continue
        rules = configs.get(campaign_id)
        if rules is None:
            rules = configs[campaign_id] = campaign_rules(campaign_id, json.loads(config))
        step = _next_for_recipient(
            rules,
            end.outcome,
            attempts,
            zones,
            phone,
            campaign_status == "cancelled",
            end.ended_at,
        )
        progress[0] = step["status"]
        changes[rid] = step
    if not changes:
        return

    def build(p: RowValue) -> Any:
        return (
            update(cr)
            .where(cr.c.id == p("b_id"))
            .values(
                status=p("b_status"),
                final_outcome=p("b_final"),
                next_attempt_at=p("b_next"),
                updated_at=p("b_now"),
                blocked_reason=None,
            )
        )

    rows = [
        {
            "b_id": rid,
            "b_status": step["status"],
            "b_final": step["final_outcome"],
            "b_next": step["next_attempt_at"],
            "b_now": now,
        }
        for rid, step in sorted(changes.items())
    ]
    types = {
        "b_id": cr.c.id.type,
        "b_status": cr.c.status.type,
        "b_final": cr.c.final_outcome.type,
        "b_next": cr.c.next_attempt_at.type,
        "b_now": cr.c.updated_at.type,
    }
    update_many(session, build, rows, types)


def _next_for_recipient(
    rules: CampaignRules,
    outcome: str,
    attempts: int,
    zones: list[str],
    phone: str,
    cancelled: bool,
    ended_at: datetime,
) -> dict[str, Any]:
    """The recipient's status, final_outcome and next_attempt_at after this outcome."""
    rule = None
    if rules.config is not None and outcome != "invalid_number":
        rule = rules.config.retries.get(outcome)
    if rule is None or attempts >= rule.max_attempts:
        return {"status": "done", "final_outcome": outcome, "next_attempt_at": None}
    if cancelled:
        return {"status": "cancelled", "final_outcome": outcome, "next_attempt_at": None}
    assert rules.hours is not None
    earliest = ended_at + timedelta(seconds=rule.delay_after(attempts))
    when = rules.hours.next_open(zones, earliest, phone)
    if when is None:
        return {"status": "skipped", "final_outcome": "no_window", "next_attempt_at": None}
    return {"status": "pending", "final_outcome": None, "next_attempt_at": when}


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


# -- metrics, counted once the transaction commits ------------------------------------------

_PENDING_KEY = "dialer.attempts.pending_metrics"
#: the call flow's results, counted once per attempt when it ends (DESIGN §11)
_FLOW_METRIC_COLUMNS = ("amd_result", "amd_duration_ms", "ivr_result", "queue_wait_seconds")
_Pending = tuple[str, str, str | None, Mapping[str, Any]]


def _count_after_commit(
    session: Session,
    campaign: str,
    outcome: str,
    hangup_cause: str | None,
    flow: Mapping[str, Any] | None = None,
) -> None:
    pending: list[_Pending] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []
        event.listen(session, "after_commit", _flush_metrics)
        event.listen(session, "after_rollback", _drop_metrics)
    pending.append((campaign, outcome, hangup_cause, flow or {}))


def _flush_metrics(session: Session) -> None:
    from dialer import metrics

    pending: list[_Pending] = session.info.get(_PENDING_KEY) or []
    for campaign, outcome, cause, flow in pending:
        metrics.CALL_ATTEMPTS.labels(campaign=campaign, outcome=outcome).inc()
        metrics.HANGUPS.labels(cause=(cause or "UNKNOWN")).inc()
        if flow.get("amd_result"):
            metrics.AMD_RESULTS.labels(result=flow["amd_result"]).inc()
        if flow.get("amd_duration_ms") is not None:
            metrics.AMD_DECISION.observe(flow["amd_duration_ms"] / 1000)
        if flow.get("ivr_result"):
            metrics.IVR_RESULTS.labels(result=flow["ivr_result"]).inc()
        if flow.get("queue_wait_seconds") is not None:
            metrics.QUEUE_WAIT.observe(flow["queue_wait_seconds"])
    pending.clear()


def _drop_metrics(session: Session) -> None:
    pending = session.info.get(_PENDING_KEY)
    if pending:
        pending.clear()
