"""Migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from dialer.db.migrate import current_revision, downgrade, head_revision, upgrade
from dialer.db.models import Base


def test_migrated_schema_matches_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_downgrade_to_base_and_back(sqlite_engine: Engine) -> None:
    downgrade(sqlite_engine, "base")
    assert current_revision(sqlite_engine) is None
    upgrade(sqlite_engine)
    assert current_revision(sqlite_engine) == head_revision()
