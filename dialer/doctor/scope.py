"""The campaigns a doctor checks the node for, read from the dialer's database.

The database is read only (no migration, no file created): an embedded install that has no
database file yet simply has no campaigns. When the database cannot be read the node is still
examined for the default queue, and a ``WARN`` says which campaigns were not considered; with
``--campaign`` the campaign is the question, so not finding it is an error of the command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from dialer.campaigns.model import CampaignConfig
from dialer.campaigns.service import CampaignNotFoundError, get_campaign, list_campaigns
from dialer.config import Settings, normalise_database_url
from dialer.db.engine import make_engine
from dialer.doctor.needs import LIVE_STATUSES, Needs, campaign_needs, node_needs
from dialer.doctor.report import Check, Status

DB_CONNECT_TIMEOUT = 5  # seconds: a doctor must not hang on an unreachable database


class ScopeError(Exception):
    """The asked campaign cannot be read; the message says why."""


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database"


@contextmanager
def _engine(url: str) -> Iterator[Engine | None]:
    """An engine on an existing database; None for an embedded one not created yet."""
    parsed = make_url(normalise_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or not Path(parsed.database).exists():
            yield None
            return
        engine = make_engine(url)
    else:
        engine = sa.create_engine(
            parsed, connect_args={"connect_timeout": DB_CONNECT_TIMEOUT}, poolclass=sa.NullPool
        )
    try:
        yield engine
    finally:
        engine.dispose()


def _problem(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def needs_for(settings: Settings, campaign_id: int | None) -> tuple[Needs, tuple[Check, ...]]:
    """What to check for, and a note on the campaigns read (or not read)."""
    url = settings.effective_database_url
    if campaign_id is not None:
        return _one(url, campaign_id), ()
    try:
        with _engine(url) as engine:
            infos = [] if engine is None else list_campaigns(engine)
    except Exception as exc:  # unreachable server, bad credentials, schema not migrated
        warn = Check(
            "campaigns", Status.WARN,
            f"not read from {_shown(url)} ({_problem(exc)}): only the default queue is checked",
            required=False,
        )  # fmt: skip
        return node_needs([]), (warn,)
    live: list[tuple[int, CampaignConfig]] = [
        (info.id, info.config) for info in infos if info.status in LIVE_STATUSES
    ]
    note = Check(
        "campaigns", Status.PASS,
        f"{len(live)} that may still dial (of {len(infos)} in the database)",
        required=False, data={"ids": [cid for cid, _ in live]},
    )  # fmt: skip
    return node_needs(live), (note,)


def _one(url: str, campaign_id: int) -> Needs:
    try:
        with _engine(url) as engine:
            if engine is None:
                raise ScopeError(f"no campaign {campaign_id}: {_shown(url)} does not exist yet")
            info = get_campaign(engine, campaign_id)
    except CampaignNotFoundError:
        raise ScopeError(f"no campaign {campaign_id} in {_shown(url)}") from None
    except ScopeError:
        raise
    except Exception as exc:
        raise ScopeError(
            f"cannot read campaign {campaign_id} from {_shown(url)}: {_problem(exc)}"
        ) from None
    return campaign_needs(info.id, info.config)
