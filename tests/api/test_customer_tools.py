"""Customer-defined tools: the CRM request rendered from the tool's templates (values as JSON
values in the body, percent-encoded in the URL), and every CRM answer turned into something the
agent can say."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import tool_call
from tests.api.support import AGENT_DIAL, Crm, ai_campaign, insert_call

pytestmark = [pytest.mark.postgres]

FALLBACK = {"status": "error", "message": "Sorry, I couldn't do that right now."}


def order_tool(endpoint: str, **overrides: Any) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "name": "check_order",
        "description": "Looks up an order.",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "maxLength": 40},
                "qty": {"type": "integer"},
                "notes": {"type": "string"},
            },
            "required": ["order_id"],
        },
        "api_endpoint": endpoint + "/orders/{{order_id}}",
        "http_method": "post",
        "headers": {"Authorization": "Bearer crm-secret", "X-Call": "{{call.attempt_id}}"},
        "query_params": {"q": "{{args.order_id}}", "note": "{{notes}}"},
        "body_template": {
            "order": "{{order_id}}",
            "qty": "{{args.qty}}",
            "notes": "{{notes}}",
            "customer": {"name": "{{recipient.first_name}}", "phone": "{{recipient.phone}}"},
            "greeting": "Hi {{recipient.first_name}}, about order {{order_id}}",
            "call": ["{{call.attempt_id}}", "{{call.campaign_id}}"],
            "source": "ai_agent",
        },
    }
    tool.update(overrides)
    return tool


def with_tools(*tools: dict[str, Any]) -> dict[str, Any]:
    return ai_campaign(agents={"bot": {"dial": AGENT_DIAL, "tools": list(tools)}})


def toolcalls(engine: Engine, attempt_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        ai = conn.execute(sa.text("SELECT ai FROM call_attempts WHERE id = :id"),
                          {"id": attempt_id}).scalar_one()  # fmt: skip
    return list(ai["toolCalls"])


def test_a_customer_tool_calls_the_crm_with_its_rendered_request(
    client: TestClient, pg_engine: Engine, crm: Crm
) -> None:
    rows = insert_call(pg_engine, with_tools(order_tool(crm.url + "/ok")),
                       fields={"first_name": "Ana María"})  # fmt: skip
    response = tool_call(client, "check_order", rows.attempt_id, {"order_id": "A/1 2?x", "qty": 3})
    assert (response.status_code, response.json()) == (
        200, {"status": "success", "message": "Your order ships Friday."})  # fmt: skip
    (got,) = crm.received
    assert (got.method, got.path) == ("POST", "/ok/orders/A%2F1%202%3Fx")
    assert got.query == {"q": ["A/1 2?x"]}  # a missing optional argument is left out
    assert got.headers["authorization"] == "Bearer crm-secret"
    assert got.headers["x-call"] == rows.attempt_id
    assert got.json() == {
        "order": "A/1 2?x",
        "qty": 3,  # a number stays a number
        "notes": None,  # a missing optional argument is null
        "customer": {"name": "Ana María", "phone": rows.to_number},
        "greeting": "Hi Ana María, about order A/1 2?x",
        "call": [rows.attempt_id, rows.campaign_id],
        "source": "ai_agent",
    }
    (entry,) = toolcalls(pg_engine, rows.attempt_id)
    assert (entry["name"], entry["status"], entry["httpStatus"]) == ("check_order", "success", 200)
    assert entry["message"] == "Your order ships Friday."


def test_an_argument_cannot_break_out_of_its_json_value(
    client: TestClient, pg_engine: Engine, crm: Crm
) -> None:
    rows = insert_call(pg_engine, with_tools(order_tool(crm.url + "/ok")))
    sly = '", "admin": true, "x": "'
    response = tool_call(client, "check_order", rows.attempt_id,
                         {"order_id": "7", "notes": sly})  # fmt: skip
    assert response.status_code == 200
    body = crm.received[0].json()
    assert body["notes"] == sly
    assert "admin" not in body
    assert crm.received[0].query == {"q": ["7"], "note": [sly]}


def test_a_get_tool_sends_no_body_and_a_crm_without_message_gets_a_default(
    client: TestClient, pg_engine: Engine, crm: Crm
) -> None:
    tool = order_tool(crm.url + "/plain", http_method="GET", body_template=None)
    rows = insert_call(pg_engine, with_tools(tool))
    response = tool_call(client, "check_order", rows.attempt_id, {"order_id": "7"})
    assert response.json() == {"status": "success", "message": "All done."}
    assert (crm.received[0].method, crm.received[0].body) == ("GET", b"")


@pytest.mark.parametrize(
    ("path", "message", "error"),
    [
        ("/slow", FALLBACK["message"], "timeout"),
        # every byte inside the read timeout, the answer (~5 s) far past the 0.5 s budget
        ("/drip", FALLBACK["message"], "timeout"),
        ("/fail", FALLBACK["message"], None),
        ("/missing", "I couldn't find that order.", None),
    ],
)
def test_a_crm_that_is_slow_failing_or_refusing_gets_a_spoken_answer(
    client: TestClient, pg_engine: Engine, crm: Crm, path: str, message: str, error: str | None
) -> None:
    rows = insert_call(pg_engine, with_tools(order_tool(crm.url + path)))
    response = tool_call(client, "check_order", rows.attempt_id, {"order_id": "7"})
    assert (response.status_code, response.json()) == (200, {"status": "error",
                                                              "message": message})
    (entry,) = toolcalls(pg_engine, rows.attempt_id)
    assert entry["status"] == "error"
    if error is not None:
        assert entry["error"] == error
        assert entry["durationMs"] < 1500  # the app's CRM timeout is 0.5 s, the CRM took 2+
    else:
        assert entry["httpStatus"] == {"/fail": 500, "/missing": 404}[path]


def test_a_crm_that_is_not_listening_gets_a_spoken_answer(
    client: TestClient, pg_engine: Engine
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    rows = insert_call(pg_engine, with_tools(order_tool(f"http://127.0.0.1:{port}")))
    response = tool_call(client, "check_order", rows.attempt_id, {"order_id": "7"})
    assert (response.status_code, response.json()) == (200, FALLBACK)
    assert "ConnectError" in toolcalls(pg_engine, rows.attempt_id)[0]["error"]


def test_arguments_outside_the_tools_schema_are_422_and_the_crm_is_not_called(
    client: TestClient, pg_engine: Engine, crm: Crm
) -> None:
    rows = insert_call(pg_engine, with_tools(order_tool(crm.url + "/ok")))
    for args, message in [
        ({}, "args: 'order_id' is a required property"),
        ({"order_id": "x" * 41}, f"args.order_id: '{'x' * 41}' is too long"),
        ({"order_id": "7", "qty": "three"}, "args.qty: 'three' is not of type 'integer'"),
    ]:
        response = tool_call(client, "check_order", rows.attempt_id, args)
        assert (response.status_code, response.json()) == (
            422, {"status": "error", "message": message})  # fmt: skip
    assert crm.received == []


def test_a_header_value_with_a_newline_is_never_sent(
    client: TestClient, pg_engine: Engine, crm: Crm
) -> None:
    tool = order_tool(crm.url + "/ok", headers={"X-Order": "{{order_id}}"})
    rows = insert_call(pg_engine, with_tools(tool))
    response = tool_call(client, "check_order", rows.attempt_id,
                         {"order_id": "7\r\nX-Admin: yes"})  # fmt: skip
    assert (response.status_code, response.json()) == (200, FALLBACK)
    assert crm.received == []


def test_the_agent_on_the_line_is_the_one_the_flow_bridged_to(
    client: TestClient, pg_engine: Engine, crm: Crm
) -> None:
    sales_tool = order_tool(crm.url + "/ok", name="sales_lookup")
    care_tool = order_tool(crm.url + "/ok", name="care_lookup")
    config = ai_campaign(
        type="press1",
        ivr={"actions": {"1": {"ai_agent": "sales"}, "2": {"ai_agent": "care"}}},
        agents={
            "sales": {"dial": "sofia/external/sip:sales@ai.example.com", "tools": [sales_tool]},
            "care": {"dial": "sofia/external/sip:care-{campaign_id}@ai.example.com",
                     "tools": [care_tool]},
        },
    )  # fmt: skip
    config.pop("handoff")
    rows = insert_call(pg_engine, config)
    with pg_engine.begin() as conn:  # what the consumer stores from dialer::handoff
        conn.execute(
            sa.text("UPDATE call_attempts SET handoff_target = :t WHERE id = :id"),
            {"t": f"sofia/external/sip:care-{rows.campaign_id}@ai.example.com",
             "id": rows.attempt_id},
        )  # fmt: skip
    other = tool_call(client, "sales_lookup", rows.attempt_id, {"order_id": "7"})
    assert other.status_code == 404
    assert other.json()["message"].endswith("update_lead_status, care_lookup)")
    mine = tool_call(client, "care_lookup", rows.attempt_id, {"order_id": "7"})
    assert (mine.status_code, mine.json()["status"]) == (200, "success")
    assert len(crm.received) == 1
