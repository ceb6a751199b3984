"""Column types that are native on PostgreSQL and portable to SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator, TypeEngine

#: JSONB on PostgreSQL, JSON text on SQLite.
JSONDocument: TypeEngine[Any] = JSON().with_variant(postgresql.JSONB(), "postgresql")

#: text[] on PostgreSQL, a JSON list on SQLite.
TextList: TypeEngine[Any] = JSON().with_variant(postgresql.ARRAY(Text()), "postgresql")

#: BIGINT on PostgreSQL; INTEGER on SQLite so that it is the rowid alias and autoincrements.
BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamptz`` that always comes back timezone-aware, in UTC, on every backend.

    SQLite has no zone-aware type and hands back naive datetimes; comparing those with the
    clock's aware ones raises. Naive values are refused on the way in: a time without a
    zone is a bug in the caller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} stored; give it a zone")
        value = value.astimezone(UTC)
        # SQLite stores the text as given: keep one format so comparisons are lexical-safe
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
