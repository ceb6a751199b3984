"""The AI record merge on both backends: keys merged, tool calls appended, nothing else lost."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.ai.record import record_tool_call
from dialer.db.models import CallAttempt


def test_tool_calls_are_appended_and_keys_merged(engine: Engine) -> None:
    aid = uuid.uuid4()
    with Session(engine) as session, session.begin():
        session.add(CallAttempt(id=aid, state="answered", to_number="+12125550111",
                                ai={"agentId": "bot", "summary": "kept"}))  # fmt: skip
    with engine.begin() as conn:
        record_tool_call(conn, aid, {"name": "a", "args": {"x": [1, "two"]}}, {"leadStatus": "hot"})
        record_tool_call(conn, aid, {"name": "b"}, {"leadStatus": "warm", "optedOut": True})
        record_tool_call(conn, aid, {"name": "c"})
    with Session(engine) as session:
        ai = session.scalars(sa.select(CallAttempt.ai).where(CallAttempt.id == aid)).one()
    assert ai == {
        "agentId": "bot",
        "summary": "kept",
        "leadStatus": "warm",
        "optedOut": True,
        "toolCalls": [{"name": "a", "args": {"x": [1, "two"]}}, {"name": "b"}, {"name": "c"}],
    }


def test_the_first_tool_call_starts_the_record(engine: Engine) -> None:
    aid = uuid.uuid4()
    with Session(engine) as session, session.begin():
        session.add(CallAttempt(id=aid, state="answered", to_number="+12125550111"))
    with engine.begin() as conn:
        record_tool_call(conn, aid, {"name": "a"})
    with Session(engine) as session:
        ai = session.scalars(sa.select(CallAttempt.ai).where(CallAttempt.id == aid)).one()
    assert ai == {"toolCalls": [{"name": "a"}]}


def test_a_json_null_record_counts_as_none(engine: Engine) -> None:
    aid = uuid.uuid4()
    with Session(engine) as session, session.begin():
        session.add(CallAttempt(id=aid, state="answered", to_number="+12125550111"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE call_attempts SET ai = 'null'"))
        record_tool_call(conn, aid, {"name": "a"}, {"k": 1})
    with Session(engine) as session:
        ai = session.scalars(sa.select(CallAttempt.ai).where(CallAttempt.id == aid)).one()
    assert ai == {"k": 1, "toolCalls": [{"name": "a"}]}
