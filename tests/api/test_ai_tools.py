"""``POST /ai/tools`` with the dialer's own tools, on calls placed on the simulator over TCP:
what each tool does to the live call and to the records, and how every bad request is told."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.ai.switch import NodeCommands
from dialer.api import create_app
from dialer.attempts import finalise_attempt
from tests.api.conftest import KEY, NOW, OTHER_KEY, settings_for, tool_call
from tests.api.support import (
    AGENT_DIAL,
    CallRows,
    SimThread,
    ai_campaign,
    insert_call,
    originate_ai_call,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def live_call(pg_engine: Engine, node_commands: NodeCommands) -> CallRows:
    """An AI-agent call in progress: its rows, and the call bridged to the agent."""
    config = ai_campaign()
    rows = insert_call(pg_engine, config)
    originate_ai_call(lambda c: node_commands.api("fs1", c), rows, config, {"first_name": "Ana"})
    return rows


def ai_record(engine: Engine, attempt_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        value = conn.execute(
            sa.text("SELECT ai FROM call_attempts WHERE id = :id"), {"id": attempt_id}
        ).scalar_one()
    return dict(value or {})


def recipient(engine: Engine, rows: CallRows) -> sa.Row[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT status, next_attempt_at, final_outcome FROM campaign_recipients"
                    " WHERE id = :id"), {"id": rows.campaign_recipient_id}
        ).one()  # fmt: skip


def sent_to_switch(simulator: SimThread, attempt_id: str, verb: str) -> list[str]:
    return [line for line in simulator.api_commands()
            if line.startswith(f"api {verb} ") and attempt_id in line]  # fmt: skip


# -- the door: keys, and requests that name nothing ----------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_a_missing_or_wrong_key_is_401_and_every_configured_key_works(
    client: TestClient, pg_engine: Engine
) -> None:
    rows = insert_call(pg_engine, ai_campaign())
    for key in (None, "csk_wrong", KEY + "x", ""):
        response = tool_call(client, "update_lead_status", rows.attempt_id,
                             {"status": "hot"}, key=key)  # fmt: skip
        assert response.status_code == 401
        assert response.json() == {"status": "error",
                                   "message": "Unauthorized: send Authorization: Bearer <key>"}
    basic = client.post("/ai/tools", json={}, headers={"Authorization": f"Basic {KEY}"})
    assert basic.status_code == 401
    for key in (KEY, OTHER_KEY):  # a rotation: both keys of DIALER_AI_TOOLS_KEYS
        response = tool_call(client, "update_lead_status", rows.attempt_id,
                             {"status": "warm"}, key=key)  # fmt: skip
        assert response.status_code == 200, response.text
    assert ai_record(pg_engine, rows.attempt_id)["leadStatus"] == "warm"


def test_without_configured_keys_the_route_refuses_everything(
    simulator: SimThread, postgres_url: str, pg_engine: Engine
) -> None:
    settings = settings_for(simulator, postgres_url, ai_tools_keys="  , ")
    rows = insert_call(pg_engine, ai_campaign())
    with TestClient(create_app(settings, engine=pg_engine)) as client:
        for key in ("", KEY, None):
            response = tool_call(client, "end_call", rows.attempt_id, key=key)
            assert response.status_code == 503
            assert "DIALER_AI_TOOLS_KEYS" in response.json()["message"]
    assert sent_to_switch(simulator, rows.attempt_id, "sched_hangup") == []


def test_an_unknown_call_is_404(client: TestClient, pg_engine: Engine) -> None:
    for call_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = tool_call(client, "end_call", call_id)
        assert response.status_code == 404
        assert response.json() == {"status": "error", "message": f"unknown call {call_id!r}"}


def test_a_call_of_another_tenant_is_not_found(client: TestClient, pg_engine: Engine) -> None:
    rows = insert_call(pg_engine, ai_campaign(), company_id="acme")
    response = tool_call(client, "update_lead_status", rows.attempt_id, {"status": "hot"},
                         tenant_id="globex")  # fmt: skip
    assert response.status_code == 404
    assert ai_record(pg_engine, rows.attempt_id) == {}
    no_tenant = tool_call(client, "update_lead_status", rows.attempt_id, {"status": "hot"},
                          tenant_id=None)  # fmt: skip
    assert no_tenant.status_code == 200


def test_an_ended_call_is_409(client: TestClient, pg_engine: Engine) -> None:
    rows = insert_call(pg_engine, ai_campaign(), state="ended")
    response = tool_call(client, "transfer_to_human", rows.attempt_id, {"reason": "asked"})
    assert response.status_code == 409
    assert response.json() == {"status": "error",
                               "message": f"call {rows.attempt_id} has ended"}


def test_an_unknown_tool_is_404_naming_the_tools_of_the_call(
    client: TestClient, pg_engine: Engine
) -> None:
    rows = insert_call(pg_engine, ai_campaign())
    response = tool_call(client, "send_fax", rows.attempt_id)
    assert response.status_code == 404
    message = response.json()["message"]
    assert message.startswith("unknown tool 'send_fax' (this call has: end_call, opt_out,")
    (entry,) = ai_record(pg_engine, rows.attempt_id)["toolCalls"]
    assert (entry["name"], entry["status"], entry["httpStatus"]) == ("send_fax", "error", 404)


@pytest.mark.parametrize(
    ("function", "args", "message"),
    [
        ("update_lead_status", {"status": "lukewarm"},
         "args.status: 'lukewarm' is not one of ['hot', 'warm', 'cold']"),
        ("update_lead_status", {}, "args: give exactly one of status, lead_status"),
        ("schedule_callback", {"at": "2026-12-02T15:00:00-05:00", "in_minutes": 30},
         "args: give exactly one of at, in_minutes"),
        ("schedule_callback", {"in_minutes": "soon"}, "args.in_minutes: 'soon' is not of type "
         "'integer'"),
        ("end_call", {"reason": 7}, "args.reason: 7 is not of type 'string'"),
    ],
)  # fmt: skip
def test_bad_arguments_are_422_with_the_schema_problem(
    client: TestClient, pg_engine: Engine, function: str, args: dict[str, Any], message: str
) -> None:
    rows = insert_call(pg_engine, ai_campaign())
    response = tool_call(client, function, rows.attempt_id, args)
    assert (response.status_code, response.json()) == (422, {"status": "error",
                                                              "message": message})


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"args": {}, "call_id": "x"}',
     b'{"function": "end_call", "args": [], "call_id": "x"}', b'{"function": "end_call"}'],
)  # fmt: skip
def test_a_malformed_request_is_422(client: TestClient, body: bytes) -> None:
    response = client.post("/ai/tools", content=body,
                           headers={"Authorization": f"Bearer {KEY}"})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["status"] == "error"
    assert "Traceback" not in response.text


# -- the tools, on a live call -------------------------------------------------------------


def test_transfer_to_human_moves_the_call_into_the_agents_transfer_queue(
    client: TestClient,
    pg_engine: Engine,
    simulator: SimThread,
    live_call: CallRows,
    node_commands: NodeCommands,
) -> None:
    uid = live_call.attempt_id
    response = tool_call(client, "transfer_to_human", uid, {"reason": "wants a person"})
    assert (response.status_code, response.json()) == (
        200, {"status": "transferred", "message": "Transferring you to an agent now."}
    )  # fmt: skip
    sent = [line for line in simulator.api_commands()
            if line.split()[1] in ("uuid_setvar", "uuid_transfer") and uid in line]
    assert sent == [
        f"api uuid_setvar {uid} dialer_queue_max_wait 45",
        f"api uuid_setvar {uid} dialer_handoff_target sales@default",
        f"api uuid_setvar {uid} dialer_entry queue",
        f"api uuid_transfer {uid} dialer_flow XML default",
    ]  # fmt: skip
    # the flow re-entered at the queue handoff: the channel is in mod_callcenter's queue
    deadline = time.monotonic() + 5
    while node_commands.api("fs1", f"uuid_getvar {uid} current_application") != "callcenter":
        assert time.monotonic() < deadline, "the call did not enter the queue"
        time.sleep(0.05)
    assert node_commands.api("fs1", f"uuid_getvar {uid} current_application_data") == (
        "sales@default")
    record = ai_record(pg_engine, uid)
    (entry,) = record["toolCalls"]
    assert entry["name"] == "transfer_to_human"
    assert entry["args"] == {"reason": "wants a person"}
    assert (entry["status"], entry["queue"], entry["target"]) == (
        "transferred", "sales", "sales@default")
    assert entry["at"] == "2026-12-01T22:30:00+00:00"
    assert isinstance(entry["durationMs"], int)
    assert record["transferredTo"] == "sales"


def test_transfer_without_an_agent_queue_takes_the_only_queue_of_the_campaign(
    client: TestClient, pg_engine: Engine, simulator: SimThread, node_commands: NodeCommands
) -> None:
    config = ai_campaign(agents={"bot": {"dial": AGENT_DIAL}},
                         queues={"care": {"target": "care@default"}})  # fmt: skip
    rows = insert_call(pg_engine, config)
    originate_ai_call(lambda c: node_commands.api("fs1", c), rows, config, {})
    response = tool_call(client, "transfer_to_human", rows.attempt_id)
    assert response.status_code == 200
    assert f"api uuid_setvar {rows.attempt_id} dialer_handoff_target care@default" in (
        simulator.api_commands())


def test_transfer_with_no_queue_at_all_says_so_to_the_caller(
    client: TestClient, pg_engine: Engine, simulator: SimThread
) -> None:
    rows = insert_call(pg_engine, ai_campaign(agents={"bot": {"dial": AGENT_DIAL}}, queues={}))
    response = tool_call(client, "transfer_to_human", rows.attempt_id)
    assert (response.status_code, response.json()["status"]) == (200, "error")
    assert response.json()["message"] == "Sorry, I can't transfer you to a person right now."
    assert sent_to_switch(simulator, rows.attempt_id, "uuid_transfer") == []


def test_end_call_hangs_up_two_seconds_later(
    client: TestClient,
    pg_engine: Engine,
    simulator: SimThread,
    live_call: CallRows,
    node_commands: NodeCommands,
) -> None:
    uid = live_call.attempt_id
    response = tool_call(client, "end_call", uid,
                         {"reason": "conversation_complete", "summary": "Booked a demo."})
    assert (response.status_code, response.json()["status"]) == (200, "ending")
    assert sent_to_switch(simulator, uid, "sched_hangup") == [
        f"api sched_hangup +2 {uid} NORMAL_CLEARING"
    ]
    assert node_commands.api("fs1", f"uuid_exists {uid}") == "true"  # not at once
    deadline = time.monotonic() + 5  # 2 switch seconds at time scale 0.1
    while node_commands.api("fs1", f"uuid_exists {uid}") == "true":
        assert time.monotonic() < deadline, "the call was not hung up"
        time.sleep(0.05)
    record = ai_record(pg_engine, uid)
    assert (record["endReason"], record["summary"]) == ("conversation_complete", "Booked a demo.")
    # and the call is gone for the next tool: the switch says so
    again = tool_call(client, "end_call", uid)
    assert (again.status_code, again.json()["message"]) == (409, f"call {uid} has ended")


def test_a_tool_on_an_unreachable_node_is_a_spoken_failure(
    client: TestClient, pg_engine: Engine
) -> None:
    rows = insert_call(pg_engine, ai_campaign())
    with pg_engine.begin() as conn:
        conn.execute(sa.text("UPDATE call_attempts SET fs_node = 'fs9' WHERE id = :id"),
                     {"id": rows.attempt_id})  # fmt: skip
    response = tool_call(client, "end_call", rows.attempt_id)
    assert response.status_code == 200
    assert response.json() == {"status": "error", "message": "Sorry, I couldn't do that right now."}
    (entry,) = ai_record(pg_engine, rows.attempt_id)["toolCalls"]
    assert "not configured" in entry["error"]


def test_schedule_callback_moves_the_time_into_the_calling_window(
    client: TestClient, pg_engine: Engine
) -> None:
    rows = insert_call(pg_engine, ai_campaign())
    # 17:30 in New York + 3 h = 20:30, after the 09:00-20:00 window: the next morning, 09:00
    response = tool_call(client, "schedule_callback", rows.attempt_id, {"in_minutes": 180})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "scheduled", "message":
                               "I've scheduled a call back for Wednesday, December 2 at 9:00 AM."}
    callback = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    # the call is still up: the recipient stays active, the call back waits for its end
    assert recipient(pg_engine, rows) == ("active", callback, None)
    record = ai_record(pg_engine, rows.attempt_id)
    assert record["callback"] == {"at": "2026-12-02T14:00:00+00:00",
                                  "requested": "2026-12-02T01:30:00+00:00"}
    # the call ends as an AI call (no retry rule for it): the call back wins
    with Session(pg_engine) as s, s.begin():
        won = finalise_attempt(s, rows.attempt_id, outcome="ai_completed",
                               hangup_cause="NORMAL_CLEARING", by="test",
                               ended_at=datetime.fromisoformat(NOW),
                               leases=None)  # fmt: skip
    assert won
    assert recipient(pg_engine, rows) == ("pending", callback, None)


def test_schedule_callback_at_a_time_inside_the_window_keeps_it(
    client: TestClient, pg_engine: Engine
) -> None:
    rows = insert_call(pg_engine, ai_campaign())
    response = tool_call(client, "schedule_callback", rows.attempt_id,
                         {"at": "2026-12-03T10:15:00", "timezone": "America/Chicago"})
    assert response.status_code == 200, response.text
    # 10:15 in Chicago is 11:15 in New York: open
    assert recipient(pg_engine, rows)[1] == datetime(2026, 12, 3, 16, 15, tzinfo=UTC)
    assert response.json()["message"] == (
        "I've scheduled a call back for Thursday, December 3 at 10:15 AM.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"at": "2026-12-01T10:00:00-05:00"}, "at: 2026-12-01T10:00:00-05:00 is in the past"),
        ({"at": "2027-03-01T10:00:00-05:00"},
         "at: more than 30 days ahead (2027-03-01T10:00:00-05:00)"),
        ({"at": "2026-12-02T10:00:00"},
         "at: give a UTC offset (2026-12-02T15:00:00-05:00) or a timezone"),
        ({"at": "tomorrow at ten"},
         "at: 'tomorrow at ten' is not an ISO 8601 time like 2026-12-02T15:00:00-05:00"),
        ({"at": "2026-12-02T10:00:00", "timezone": "Mars/Olympus"},
         "unknown timezone 'Mars/Olympus'"),
    ],
)  # fmt: skip
def test_schedule_callback_refuses_a_time_it_cannot_keep(
    client: TestClient, pg_engine: Engine, args: dict[str, Any], message: str
) -> None:
    rows = insert_call(pg_engine, ai_campaign())
    response = tool_call(client, "schedule_callback", rows.attempt_id, args)
    assert (response.status_code, response.json()["message"]) == (422, message)
    assert recipient(pg_engine, rows)[:2] == ("active", None)


def test_opt_out_puts_the_number_on_the_dnc_list_and_ends_the_recipient(
    client: TestClient, pg_engine: Engine
) -> None:
    rows = insert_call(pg_engine, ai_campaign(), to_number="+12125550177")
    response = tool_call(client, "opt_out", rows.attempt_id, {"reason": "not interested"})
    assert (response.status_code, response.json()["status"]) == (200, "opted_out")
    with pg_engine.connect() as conn:
        source, reason = conn.execute(
            sa.text("SELECT source, reason FROM dnc_numbers WHERE phone_e164 = '+12125550177'")
        ).one()
    assert source == "opt_out"
    assert reason == (f"asked the AI agent in campaign {rows.campaign_id} "
                      f"(call {rows.attempt_id}): not interested")  # fmt: skip
    assert recipient(pg_engine, rows) == ("done", None, "opted_out")
    # a callback after that is refused: the number is on the list
    later = tool_call(client, "schedule_callback", rows.attempt_id, {"in_minutes": 60})
    assert (later.status_code, later.json()["status"]) == (200, "error")
    assert recipient(pg_engine, rows) == ("done", None, "opted_out")


def test_update_lead_status_sets_the_disposition_and_merges_the_ai_record(
    client: TestClient, pg_engine: Engine
) -> None:
    rows = insert_call(pg_engine, ai_campaign())
    with pg_engine.begin() as conn:  # what the consumer may already have written
        conn.execute(sa.text("""UPDATE call_attempts SET ai = '{"agentId": "bot",
                     "toolCalls": [{"name": "earlier"}]}' WHERE id = :id"""),
                     {"id": rows.attempt_id})  # fmt: skip
    first = tool_call(client, "update_lead_status", rows.attempt_id,
                      {"status": "hot", "notes": "Wants pricing"})  # fmt: skip
    assert first.json() == {"status": "updated", "message": "Thanks, I've noted that."}
    second = tool_call(client, "update_lead_status", rows.attempt_id, {"lead_status": "warm"})
    assert second.status_code == 200
    with pg_engine.connect() as conn:
        disposition = conn.execute(
            sa.text("SELECT disposition FROM call_attempts WHERE id = :id"),
            {"id": rows.attempt_id},
        ).scalar_one()
    assert disposition == "warm"
    record = ai_record(pg_engine, rows.attempt_id)
    assert record["agentId"] == "bot"
    assert [c["name"] for c in record["toolCalls"]] == [
        "earlier", "update_lead_status", "update_lead_status"]
    assert record["toolCalls"][1]["args"] == {"status": "hot", "notes": "Wants pricing"}
    assert (record["leadStatus"], record["leadNotes"]) == ("warm", "Wants pricing")
