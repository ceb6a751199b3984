"""``dialer webhooks test|deliveries|replay|enable`` as a user runs them, against a real
receiver; and the shipped payload schemas are the ones the code generates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialer.webhooks import EVENT_NAMES
from dialer.webhooks.schemas import event_schema, shipped_schema
from tests.webhooks.cli import run_dialer
from tests.webhooks.receiver import Receiver


def test_test_deliveries_and_replay_from_the_command_line(tmp_path: Path) -> None:
    answers = iter([200, 500, 200])
    with Receiver(lambda _n, _b: (next(answers), 0.0)).running() as receiver:
        added = json.loads(run_dialer(tmp_path, "webhooks", "add", receiver.url, "--json").stdout)
        ok = run_dialer(tmp_path, "webhooks", "test", str(added["id"]))
        assert ok.returncode == 0, ok.stderr
        assert "delivered: HTTP 200" in ok.stdout
        bad = run_dialer(tmp_path, "webhooks", "test", str(added["id"]))
        assert bad.returncode == 1
        assert "not delivered" in bad.stdout
        assert "HTTP 500" in bad.stdout
        listed = run_dialer(tmp_path, "webhooks", "deliveries", "--failed", "--json")
        failed = json.loads(listed.stdout)
        assert [(f["event"], f["status"], f["lastStatusCode"]) for f in failed] == [
            ("webhook.test", "pending", 500)
        ]
        every = json.loads(run_dialer(tmp_path, "webhooks", "deliveries", "--json").stdout)
        assert [d["status"] for d in every] == ["pending", "delivered"]  # newest first
        replayed = run_dialer(tmp_path, "webhooks", "replay", str(every[1]["id"]))
        assert "1 webhook event queued again" in replayed.stdout
        (payload, secret) = (receiver.received[0], added["secret"])
        body = payload.verified(secret)
        assert body["event"] == "webhook.test"
        assert body["data"]["endpointId"] == added["id"]
        tries = json.loads(
            run_dialer(tmp_path, "webhooks", "deliveries", "--tries", str(every[0]["id"]),
                    "--json").stdout
        )  # fmt: skip
        assert [t["statusCode"] for t in tries] == [500]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("webhooks", "test", "99"), "no webhook endpoint 99"),
        (("webhooks", "replay"), "give a DELIVERY_ID or --since TIME"),
        (("webhooks", "replay", "--since", "yesterday"), "--since: not an ISO 8601 time"),
    ],
)
def test_bad_requests_are_one_line_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = run_dialer(tmp_path, *args)
    assert done.returncode != 0
    assert message in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("event", EVENT_NAMES)
def test_the_shipped_schema_of_each_event_is_the_generated_one(event: str) -> None:
    assert shipped_schema(event) == event_schema(event)
