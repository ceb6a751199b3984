"""The campaign lifecycle as library functions: create, start, pause, resume, cancel, complete.

``draft`` → ``running`` (or ``scheduled`` while ``schedule.start`` is in the future) ⇄
``paused`` → ``completed`` | ``cancelled``. The CLI and the HTTP API are thin doors onto these.

Every change is a compare-and-set (``UPDATE campaigns … WHERE id = :id AND status IN (…)``)
in one explicit transaction, so two operators pressing different buttons at once cannot both
win: the loser gets a :class:`CampaignStateError` that says what the campaign is now. Every
change sets ``updated_at`` from the clock.

Starting populates ``campaign_recipients`` with one ``INSERT … SELECT`` per list, no row
passing through Python: one row per distinct number across the campaign's lists (a number in
two lists is called once, as the recipient of the first list that has it), ``pending`` and due
at ``max(now, schedule.start)``; numbers on the DNC list at that moment are ``skipped`` with
``final_outcome = 'dnc'``.

A campaign stores its config as ``CampaignConfig.model_dump(mode="json")`` with ``lists``
resolved to list ids at creation, so renaming a list later does not change what a campaign
dials.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.campaigns.model import CampaignConfig, Pacing
from dialer.clock import Clock, get_clock
from dialer.config import ConfigError, Settings
from dialer.db.models import (
    Base,
    CallAttempt,
    Campaign,
    CampaignRecipient,
    ContactList,
    DncNumber,
    Recipient,
)
from dialer.db.types import UTCDateTime

#: Who a cancelled attempt was moved by (``call_attempts.claimed_by``).
CANCELLED_BY = "campaign-cancel"

_campaigns = Base.metadata.tables[Campaign.__tablename__]
_crs = Base.metadata.tables[CampaignRecipient.__tablename__]
_attempts = Base.metadata.tables[CallAttempt.__tablename__]
_recipients = Base.metadata.tables[Recipient.__tablename__]
_lists = Base.metadata.tables[ContactList.__tablename__]
_dnc = Base.metadata.tables[DncNumber.__tablename__]


class CampaignError(Exception):
    """A lifecycle request cannot be done; the message says why, as a user reads it."""


class CampaignNotFoundError(CampaignError):
    """No campaign has this id."""


class CampaignStateError(CampaignError):
    """The campaign's status does not allow this transition (it may just have changed)."""


@dataclass(frozen=True)
class ListRef:
    id: int
    #: ``None`` when the list was deleted after the campaign was created.
    name: str | None


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    name: str
    type: str
    status: str
    company_id: str | None
    lists: tuple[ListRef, ...]
    trunk: str
    pacing: Pacing
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    config: CampaignConfig

    def as_json(self) -> dict[str, Any]:
        """Plain JSON types, snake_case keys (the CLI's ``--json``)."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "company_id": self.company_id,
            "lists": [{"id": ref.id, "name": ref.name} for ref in self.lists],
            "trunk": self.trunk,
            "pacing": self.pacing.model_dump(mode="json"),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "config": self.config.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class StartResult:
    campaign: CampaignInfo
    #: Rows created in ``campaign_recipients`` (one per distinct number).
    recipients: int
    #: Of those, ``skipped`` because the number was on the DNC list.
    skipped_dnc: int
    #: Recipients not added because an earlier list of the campaign has the same number.
    duplicates: int

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign.as_json(),
            "recipients": self.recipients,
            "skipped_dnc": self.skipped_dnc,
            "duplicates": self.duplicates,
        }


@dataclass(frozen=True)
class CancelResult:
    campaign: CampaignInfo
    #: Recipients moved to ``cancelled`` (those pending and those whose call was still queued).
    recipients_cancelled: int
    #: Attempts moved from ``queued`` to ``cancelled`` (never sent to a switch).
    attempts_cancelled: int
    #: Calls already on a switch: left to finish and be recorded.
    live_calls: int

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign.as_json(),
            "recipients_cancelled": self.recipients_cancelled,
            "attempts_cancelled": self.attempts_cancelled,
            "live_calls": self.live_calls,
        }


# -- create, read -----------------------------------------------------------------------------


def create_campaign(
    engine: Engine, config: CampaignConfig, *, settings: Settings, clock: Clock | None = None
) -> CampaignInfo:
    """Store a new ``draft`` campaign; its lists and trunk must exist."""
    now = (clock or get_clock()).now()
    try:
        settings.trunk(config.trunk)
    except ConfigError:
        known = ", ".join(repr(t.name) for t in settings.trunks)
        raise CampaignError(
            f"trunk: unknown trunk {config.trunk!r} (configured in DIALER_TRUNKS: {known})"
        ) from None
    with Session(engine) as s, s.begin():
        list_ids = _resolve_lists(s, config.lists)
        stored = config.model_dump(mode="json")
        stored["lists"] = list_ids
        campaign_id = s.execute(
            sa.insert(_campaigns)
            .values(
                company_id=config.company_id,
                name=config.name,
                type=config.type.value,
                status="draft",
                config=stored,
                created_at=now,
                updated_at=now,
            )
            .returning(_campaigns.c.id)
        ).scalar_one()
        return _infos(s, [campaign_id])[0]


def get_campaign(engine: Engine, campaign_id: int) -> CampaignInfo:
    with Session(engine) as s, s.begin():
        found = _infos(s, [campaign_id])
    if not found:
        raise CampaignNotFoundError(f"no campaign {campaign_id}")
    return found[0]


def list_campaigns(
    engine: Engine, *, status: str | None = None, company_id: str | None = None
) -> list[CampaignInfo]:
    """All campaigns, oldest first; optionally only one status or one company's."""
    query = sa.select(_campaigns.c.id).order_by(_campaigns.c.id)
    if status is not None:
        query = query.where(_campaigns.c.status == status)
    if company_id is not None:
        query = query.where(_campaigns.c.company_id == company_id)
    with Session(engine) as s, s.begin():
        ids = list(s.execute(query).scalars())
        return _infos(s, ids)


# -- transitions ------------------------------------------------------------------------------


def start_campaign(engine: Engine, campaign_id: int, *, clock: Clock | None = None) -> StartResult:
    """``draft`` → ``running`` (``scheduled`` if ``schedule.start`` is later) with its recipients.

    A campaign whose lists hold nobody to call (empty, or all on the DNC list) completes at
    once when it starts running.
    """
    clock = clock or get_clock()
    now = clock.now()
    with Session(engine) as s, s.begin():
        _transition(s, campaign_id, ("draft",), "started", now, status="running", started_at=now)
        config = _config(s, campaign_id)
        start = config.schedule.start
        status = _running_or_scheduled(s, campaign_id, start, now)
        list_ids = [int(item) for item in config.lists]
        sizes = _list_sizes(s, list_ids)
        missing = [str(i) for i in list_ids if i not in sizes]
        if missing:
            raise CampaignError(f"lists: list {', '.join(missing)} no longer exists")
        due = max(now, start) if start is not None else now
        inserted = 0
        for index, list_id in enumerate(list_ids):
            inserted += _add_list(s, campaign_id, list_id, list_ids[:index], due=due, now=now)
        skipped = s.execute(
            sa.select(sa.func.count())
            .select_from(_crs)
            .where(_crs.c.campaign_id == campaign_id, _crs.c.status == "skipped")
        ).scalar_one()
        if status == "running":
            complete_if_done(s, campaign_id, clock=clock)
        info = _infos(s, [campaign_id])[0]
    return StartResult(
        campaign=info,
        recipients=inserted,
        skipped_dnc=skipped,
        duplicates=sum(sizes.values()) - inserted,
    )


def pause_campaign(engine: Engine, campaign_id: int, *, clock: Clock | None = None) -> CampaignInfo:
    """``running`` | ``scheduled`` → ``paused``: no new calls; calls on the switch go on."""
    now = (clock or get_clock()).now()
    with Session(engine) as s, s.begin():
        _transition(s, campaign_id, ("running", "scheduled"), "paused", now, status="paused")
        return _infos(s, [campaign_id])[0]


def resume_campaign(
    engine: Engine, campaign_id: int, *, clock: Clock | None = None
) -> CampaignInfo:
    """``paused`` → ``running`` (``scheduled`` if ``schedule.start`` is still in the future).

    A campaign whose last calls ended while it was paused completes at the scheduler's next
    tick (:func:`complete_if_done`), as any running campaign does.
    """
    now = (clock or get_clock()).now()
    with Session(engine) as s, s.begin():
        _transition(s, campaign_id, ("paused",), "resumed", now, status="running")
        _running_or_scheduled(s, campaign_id, _config(s, campaign_id).schedule.start, now)
        return _infos(s, [campaign_id])[0]


def cancel_campaign(
    engine: Engine, campaign_id: int, *, clock: Clock | None = None
) -> CancelResult:
    """→ ``cancelled`` in one transaction: pending recipients and queued attempts (with their
    recipients) are cancelled; calls already on a switch are left to finish and be recorded."""
    now = (clock or get_clock()).now()
    with Session(engine) as s, s.begin():
        _transition(
            s,
            campaign_id,
            ("draft", "scheduled", "running", "paused"),
            "cancelled",
            now,
            status="cancelled",
            finished_at=now,
        )
        # The worker's claim is ``… WHERE id = :id AND state = 'queued'``: per row, exactly one
        # of it and this statement wins; an attempt it claimed first is live and left alone.
        attempts = _rowcount(
            s.execute(
                sa.update(_attempts)
                .where(_attempts.c.campaign_id == campaign_id, _attempts.c.state == "queued")
                .values(state="cancelled", state_changed_at=now, claimed_by=CANCELLED_BY)
            )
        )
        cancelled = sa.update(_crs).values(
            status="cancelled", updated_at=now, next_attempt_at=None, blocked_reason=None
        )
        recipients = _rowcount(
            s.execute(
                cancelled.where(_crs.c.campaign_id == campaign_id, _crs.c.status == "pending")
            )
        )
        if attempts:
            queued_ones = cancelled.where(
                _crs.c.campaign_id == campaign_id,
                _crs.c.status == "active",
                sa.exists().where(
                    _attempts.c.campaign_recipient_id == _crs.c.id,
                    _attempts.c.state == "cancelled",
                ),
            )
            recipients += _rowcount(s.execute(queued_ones))
        live = _live_calls(s, campaign_id)
        info = _infos(s, [campaign_id])[0]
    return CancelResult(
        campaign=info, recipients_cancelled=recipients, attempts_cancelled=attempts, live_calls=live
    )


def complete_if_done(session: Session, campaign_id: int, *, clock: Clock | None = None) -> bool:
    """``running`` → ``completed`` when no recipient is pending or active and no attempt is
    queued or live; in the caller's transaction. True if it completed the campaign now.

    One statement: the two ``NOT EXISTS`` stop at the first row found, on the indexes
    ``(campaign_id, status, next_attempt_at)`` and ``(campaign_id, state)``.
    """
    now = (clock or get_clock()).now()
    busy_recipient = sa.exists().where(
        _crs.c.campaign_id == campaign_id, _crs.c.status.in_(("pending", "active"))
    )
    busy_attempt = sa.exists().where(
        _attempts.c.campaign_id == campaign_id,
        _attempts.c.state.in_(("queued", "originating", "ringing", "answered")),
    )
    result = session.execute(
        sa.update(_campaigns)
        .where(
            _campaigns.c.id == campaign_id,
            _campaigns.c.status == "running",
            ~busy_recipient,
            ~busy_attempt,
        )
        .values(status="completed", finished_at=now, updated_at=now)
    )
    return _rowcount(result) == 1


# -- helpers ----------------------------------------------------------------------------------

_ALLOWED_WORDS = {
    ("draft",): "a draft",
    ("running", "scheduled"): "a running or scheduled",
    ("paused",): "a paused",
    ("draft", "scheduled", "running", "paused"): "a draft, scheduled, running or paused",
}


def _transition(
    s: Session,
    campaign_id: int,
    allowed: tuple[str, ...],
    verb: str,
    now: datetime,
    **values: Any,
) -> None:
    """Compare-and-set the campaign's status; raise naming its status when that is not allowed."""
    result = s.execute(
        sa.update(_campaigns)
        .where(_campaigns.c.id == campaign_id, _campaigns.c.status.in_(allowed))
        .values(updated_at=now, **values)
    )
    if _rowcount(result) == 1:
        return
    status = s.execute(
        sa.select(_campaigns.c.status).where(_campaigns.c.id == campaign_id)
    ).scalar_one_or_none()
    if status is None:
        raise CampaignNotFoundError(f"no campaign {campaign_id}")
    raise CampaignStateError(
        f"campaign {campaign_id} is {status}: only {_ALLOWED_WORDS[allowed]} campaign can be {verb}"
    )


def _running_or_scheduled(
    s: Session, campaign_id: int, start: datetime | None, now: datetime
) -> str:
    """Make a campaign just set ``running`` ``scheduled`` if its start is still ahead.

    The compare-and-set comes first and the config is read after it, in the same transaction:
    on SQLite a transaction that reads before it writes cannot take the write lock once
    another writer has committed, while one that writes first simply waits its turn.
    """
    if start is None or start <= now:
        return "running"
    s.execute(
        sa.update(_campaigns).where(_campaigns.c.id == campaign_id).values(status="scheduled")
    )
    return "scheduled"


def _config(s: Session, campaign_id: int) -> CampaignConfig:
    stored = s.execute(
        sa.select(_campaigns.c.config).where(_campaigns.c.id == campaign_id)
    ).scalar_one_or_none()
    if stored is None:
        raise CampaignNotFoundError(f"no campaign {campaign_id}")
    return CampaignConfig.model_validate(stored)


def _resolve_lists(s: Session, wanted: Sequence[int | str]) -> list[int]:
    """List ids for names or ids, in the order given, each once; all unknown ones named."""
    ids = [item for item in wanted if isinstance(item, int)]
    names = [item.strip() for item in wanted if isinstance(item, str)]
    rows = s.execute(
        sa.select(_lists.c.id, _lists.c.name).where(
            sa.or_(_lists.c.id.in_(ids), _lists.c.name.in_(names))
        )
    ).all()
    known_ids = {row.id for row in rows}
    by_name = {row.name: row.id for row in rows}
    resolved: list[int] = []
    unknown: list[str] = []
    for item in wanted:
        if isinstance(item, int):
            found = item if item in known_ids else None
            missing = f"unknown list id {item}"
        else:
            found = by_name.get(item.strip())
            missing = f"unknown list {item.strip()!r}"
        if found is None:
            unknown.append(missing)
        elif found not in resolved:
            resolved.append(found)
    if unknown:
        raise CampaignError("lists: " + "; ".join(unknown))
    return resolved


def _list_sizes(s: Session, list_ids: Sequence[int]) -> dict[int, int]:
    """Recipients per list, for the lists that exist."""
    exists = s.execute(sa.select(_lists.c.id).where(_lists.c.id.in_(list_ids))).scalars()
    sizes = dict.fromkeys(exists, 0)
    counted = s.execute(
        sa.select(_recipients.c.list_id, sa.func.count())
        .where(_recipients.c.list_id.in_(list_ids))
        .group_by(_recipients.c.list_id)
    ).all()
    sizes.update({row[0]: row[1] for row in counted})
    return sizes


def _add_list(
    s: Session,
    campaign_id: int,
    list_id: int,
    earlier: Sequence[int],
    *,
    due: datetime,
    now: datetime,
) -> int:
    """One ``INSERT … SELECT``: the list's numbers not already in the campaign."""
    r = _recipients.alias("r")
    on_dnc = _dnc.c.phone_e164.is_not(None)
    when = sa.literal(now, UTCDateTime())
    rows = (
        sa.select(
            sa.literal(campaign_id, sa.BigInteger()),
            r.c.id,
            sa.case((on_dnc, "skipped"), else_="pending"),
            sa.literal(0, sa.Integer()),
            sa.case((on_dnc, sa.null()), else_=sa.literal(due, UTCDateTime())),
            sa.case((on_dnc, "dnc"), else_=sa.null()),
            when,
        )
        .select_from(r.outerjoin(_dnc, _dnc.c.phone_e164 == r.c.phone_e164))
        .where(r.c.list_id == list_id)
    )
    if earlier:
        # By the unique (list_id, phone_e164) index of each earlier list, then the unique
        # (campaign_id, recipient_id): the number was already added from an earlier list.
        r2 = _recipients.alias("r2")
        cr2 = _crs.alias("cr2")
        rows = rows.where(
            ~sa.exists().where(
                r2.c.list_id.in_(earlier),
                r2.c.phone_e164 == r.c.phone_e164,
                cr2.c.campaign_id == campaign_id,
                cr2.c.recipient_id == r2.c.id,
            )
        )
    columns = [
        "campaign_id",
        "recipient_id",
        "status",
        "attempts",
        "next_attempt_at",
        "final_outcome",
        "updated_at",
    ]
    # rowcount of an INSERT is kept only when asked for (SQLAlchemy 2: preserve_rowcount)
    insert = sa.insert(_crs).from_select(columns, rows)
    return _rowcount(s.execute(insert, execution_options={"preserve_rowcount": True}))


def _live_calls(s: Session, campaign_id: int) -> int:
    return s.execute(
        sa.select(sa.func.count())
        .select_from(_attempts)
        .where(
            _attempts.c.campaign_id == campaign_id,
            _attempts.c.state.in_(("originating", "ringing", "answered")),
        )
    ).scalar_one()


def _infos(s: Session, campaign_ids: Iterable[int]) -> list[CampaignInfo]:
    ids = list(campaign_ids)
    if not ids:
        return []
    rows = s.execute(
        sa.select(_campaigns).where(_campaigns.c.id.in_(ids)).order_by(_campaigns.c.id)
    ).all()
    configs = {row.id: CampaignConfig.model_validate(row.config) for row in rows}
    list_ids = {int(item) for config in configs.values() for item in config.lists}
    named = sa.select(_lists.c.id, _lists.c.name).where(_lists.c.id.in_(list_ids))
    names: dict[int, str] = {row.id: row.name for row in s.execute(named)}
    return [
        CampaignInfo(
            id=row.id,
            name=row.name,
            type=row.type,
            status=row.status,
            company_id=row.company_id,
            lists=tuple(ListRef(int(i), names.get(int(i))) for i in configs[row.id].lists),
            trunk=configs[row.id].trunk,
            pacing=configs[row.id].pacing,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            config=configs[row.id],
        )
        for row in rows
    ]


def _rowcount(result: sa.Result[Any]) -> int:
    """Rows an UPDATE or INSERT touched (``Session.execute`` is typed as any ``Result``)."""
    return int(cast("sa.CursorResult[Any]", result).rowcount)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
