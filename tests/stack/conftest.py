"""Fixtures of the distributed-stack tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from dialer.db.engine import make_engine
from tests.stack.harness import truncate_all


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    """The stack's database, emptied (campaign ids start at 1)."""
    engine = make_engine(postgres_url)
    truncate_all(engine)
    yield engine
    engine.dispose()
