"""Webhook endpoints: added with a secret shown once, listed without it, removed; bad URLs,
unknown events and campaigns are clear errors that change nothing (both backends)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.webhooks import (
    EVENT_NAMES,
    WebhookError,
    add_endpoint,
    list_endpoints,
    remove_endpoint,
)
from tests.engine.factories import make_campaign
from tests.webhooks.cli import run_dialer


def test_an_endpoint_gets_a_standard_webhooks_secret_once(engine: Engine) -> None:
    created = add_endpoint(engine, "https://crm.example.com/hooks?tenant=7")
    assert created.secret.startswith("whsec_")
    assert len(base64.b64decode(created.secret.removeprefix("whsec_"))) == 24
    assert created.endpoint.events == EVENT_NAMES  # none chosen: all seven, in call order
    (listed,) = list_endpoints(engine)
    assert listed == created.endpoint
    assert created.secret not in json.dumps(listed.as_json())
    assert listed.secret_hint == created.secret[:10] + "…"
    other = add_endpoint(engine, "http://10.0.0.9:8080/x")
    assert other.secret != created.secret


def test_chosen_events_in_call_order_and_one_campaign(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as s:
        campaign = make_campaign(s)
        campaign.company_id = "acme"
        s.commit()
    created = add_endpoint(
        engine, "https://crm.example.com/h",
        events=["campaign.completed", " campaign.answered", ""], campaign_id=campaign.id,
    )  # fmt: skip
    info = created.endpoint
    assert info.events == ("campaign.answered", "campaign.completed")
    assert (info.campaign_id, info.company_id) == (campaign.id, "acme")


@pytest.mark.parametrize(
    ("url", "events", "campaign", "message"),
    [
        ("ftp://crm.example.com/", (), None, "url: must be an http(s) URL"),
        ("crm.example.com/hooks", (), None, "url: must be an http(s) URL"),
        ("https://user:pw@crm.example.com/", (), None, "url: must not carry a user or password"),
        ("https://crm.example.com/a b", (), None, "url: must not contain blanks"),
        ("https://crm.example.com:99999/", (), None, "url: Port out of range"),
        ("https://crm.example.com/", ["campaign.done"], None,
         "events: unknown campaign.done (known: campaign.call_initiated,"),
        ("https://crm.example.com/", (), 999, "campaign: no campaign 999"),
    ],
)  # fmt: skip
def test_bad_requests_are_clear_errors_and_add_nothing(
    engine: Engine, url: str, events: list[str], campaign: int | None, message: str
) -> None:
    with pytest.raises(WebhookError) as raised:
        add_endpoint(engine, url, events=events, campaign_id=campaign)
    assert str(raised.value).startswith(message), str(raised.value)
    assert list_endpoints(engine) == []


def test_remove(engine: Engine) -> None:
    created = add_endpoint(engine, "https://crm.example.com/h")
    remove_endpoint(engine, created.endpoint.id)
    assert list_endpoints(engine) == []
    with pytest.raises(WebhookError, match=f"no webhook endpoint {created.endpoint.id}"):
        remove_endpoint(engine, created.endpoint.id)


def test_the_cli_shows_the_secret_once(tmp_path: Path) -> None:
    added = run_dialer(tmp_path, "webhooks", "add", "https://crm.example.com/hooks",
                    "--events", "campaign.completed")  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = next(w for w in added.stdout.split() if w.startswith("whsec_"))
    listed = run_dialer(tmp_path, "webhooks", "list")
    assert "https://crm.example.com/hooks" in listed.stdout
    assert "campaign.completed" in listed.stdout
    assert secret not in listed.stdout
    as_json = json.loads(run_dialer(tmp_path, "webhooks", "list", "--json").stdout)
    assert [e["events"] for e in as_json] == [["campaign.completed"]]
    bad = run_dialer(tmp_path, "webhooks", "add", "https://x.example/", "--events", "nope")
    assert bad.returncode == 2
    assert "events: unknown nope" in bad.stderr
    assert "Traceback" not in bad.stderr
    gone = run_dialer(tmp_path, "webhooks", "remove", str(as_json[0]["id"]))
    assert gone.returncode == 0
    assert json.loads(run_dialer(tmp_path, "webhooks", "list", "--json").stdout) == []
    again = run_dialer(tmp_path, "webhooks", "remove", str(as_json[0]["id"]))
    assert again.returncode == 2
    assert "no webhook endpoint" in again.stderr
