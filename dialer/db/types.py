"""Column types that are native on PostgreSQL and portable to SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

#: JSONB on PostgreSQL, JSON text on SQLite.
JSONDocument: TypeEngine[Any] = JSON().with_variant(postgresql.JSONB(), "postgresql")

#: text[] on PostgreSQL, a JSON list on SQLite.
TextList: TypeEngine[Any] = JSON().with_variant(postgresql.ARRAY(Text()), "postgresql")

#: BIGINT on PostgreSQL; INTEGER on SQLite so that it is the rowid alias and autoincrements.
BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
