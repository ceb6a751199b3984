"""Engines and sessions for PostgreSQL (psycopg 3) and the embedded SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from dialer.config import normalise_database_url


def make_engine(url: str, *, pool_size: int | None = None) -> Engine:
    """An engine for ``url``. ``pool_size`` bounds PostgreSQL connections per process (no
    overflow), so that N workers plus beat and consumers stay under the server's
    ``max_connections`` (default 100); unset keeps SQLAlchemy's default pool."""
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if pool_size is None:
        return create_engine(url, pool_pre_ping=True)
    return create_engine(
        url, pool_pre_ping=True, pool_size=pool_size, max_overflow=0, pool_timeout=60
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
