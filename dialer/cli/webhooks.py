"""``dialer webhooks``: the endpoints that hear about every call (campaign.* events)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.table import Table

from dialer.cli.context import fail, load_settings, open_engine, out_console
from dialer.webhooks import WebhookError, add_endpoint, list_endpoints, remove_endpoint
from dialer.webhooks.log import (
    DEFAULT_LIMIT,
    delivery_tries,
    enable_endpoint,
    list_deliveries,
    replay,
    send_test,
)

app = typer.Typer(help="Webhook endpoints for campaign.* events.", no_args_is_help=True)
_JSON = typer.Option(False, "--json", help="Print JSON.")


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except WebhookError as exc:
        fail(escape(str(exc)))


@app.command("add")
def add_command(
    url: str = typer.Argument(..., help="Where to POST the events (http or https)."),
    events: str = typer.Option(
        "", "--events", help="Comma-separated event names (default: all seven)."
    ),
    campaign: int | None = typer.Option(None, "--campaign", help="Only this campaign's calls."),
    as_json: bool = _JSON,
) -> None:
    """Register an endpoint; its signing secret is printed once, now."""
    engine = open_engine(load_settings())
    with _errors():
        created = add_endpoint(engine, url, events=events.split(","), campaign_id=campaign)
    info = created.endpoint
    if as_json:
        typer.echo(json.dumps({**info.as_json(), "secret": created.secret}))
        return
    scope = f"campaign {info.campaign_id}" if info.campaign_id is not None else "every campaign"
    out_console.print(
        f"webhook endpoint {info.id} added: {escape(info.url)} ({scope}; "
        f"{', '.join(info.events)})",
        highlight=False,
    )
    out_console.print(
        f"signing secret (shown only now): [bold]{created.secret}[/]", highlight=False
    )


@app.command("list")
def list_command(as_json: bool = _JSON) -> None:
    """The endpoints (secrets are never shown again: only their first characters)."""
    endpoints = list_endpoints(open_engine(load_settings()))
    if as_json:
        typer.echo(json.dumps([e.as_json() for e in endpoints]))
        return
    table = Table("id", "url", "events", "campaign", "active", "secret")
    for e in endpoints:
        shown = "all" if len(e.events) == 7 else ", ".join(e.events)
        table.add_row(str(e.id), escape(e.url), shown,
                      "all" if e.campaign_id is None else str(e.campaign_id),
                      "yes" if e.active else escape(f"no: {e.disabled_reason or 'disabled'}"),
                      e.secret_hint)  # fmt: skip
    out_console.print(table)


@app.command("remove")
def remove_command(endpoint_id: int = typer.Argument(..., help="The endpoint's id.")) -> None:
    """Forget an endpoint (and its delivery log)."""
    with _errors():
        remove_endpoint(open_engine(load_settings()), endpoint_id)
    out_console.print(f"webhook endpoint {endpoint_id} removed", highlight=False)


@app.command("enable")
def enable_command(endpoint_id: int = typer.Argument(..., help="The endpoint's id.")) -> None:
    """Make a disabled endpoint (a 410 Gone from its receiver) get events again."""
    with _errors():
        enable_endpoint(open_engine(load_settings()), endpoint_id)
    out_console.print(
        f"webhook endpoint {endpoint_id} enabled; its dead-lettered events are replayed with "
        f"`dialer webhooks replay --since TIME --endpoint {endpoint_id}`",
        highlight=False,
    )


@app.command("test")
def probe_command(
    endpoint_id: int = typer.Argument(..., help="The endpoint's id."), as_json: bool = _JSON
) -> None:
    """Send a signed webhook.test event to the endpoint now and say how it answered."""
    with _errors():
        tried = send_test(open_engine(load_settings()), endpoint_id)
    result = {
        "deliveryId": tried.delivery.id,
        "webhookId": tried.delivery.event_id,
        "ok": tried.ok,
        "statusCode": tried.status_code,
        "latencyMs": round(tried.latency * 1000),
        "error": tried.error,
    }
    if as_json:
        typer.echo(json.dumps(result))
    elif tried.ok:
        out_console.print(
            f"delivered: HTTP {tried.status_code} in {result['latencyMs']} ms "
            f"(delivery {tried.delivery.id}, webhook-id {tried.delivery.event_id})",
            highlight=False,
        )
    else:
        out_console.print(
            f"[red]not delivered[/]: {escape(tried.error or '')} (delivery "
            f"{tried.delivery.id}; retried like any event, see `dialer webhooks deliveries`)",
            highlight=False,
        )
    if not tried.ok:
        raise typer.Exit(1)


@app.command("deliveries")
def deliveries_command(
    failed: bool = typer.Option(
        False, "--failed", help="Only the dead-lettered and those waiting for a retry."
    ),
    endpoint: int | None = typer.Option(None, "--endpoint", help="Only this endpoint's."),
    call: str | None = typer.Option(None, "--call", help="Only this call's (its uuid)."),
    limit: int = typer.Option(DEFAULT_LIMIT, "--limit", min=1, max=10_000, help="At most."),
    tries: int | None = typer.Option(
        None, "--tries", help="Show every try of this delivery instead."
    ),
    as_json: bool = _JSON,
) -> None:
    """The delivery log, newest first."""
    engine = open_engine(load_settings())
    if tries is not None:
        log = delivery_tries(engine, tries)
        if as_json:
            typer.echo(json.dumps(log))
            return
        table = Table("tried at (UTC)", "status", "latency ms", "error")
        for t in log:
            table.add_row(t["triedAt"], str(t["statusCode"] or "-"), str(t["latencyMs"]),
                          escape(t["error"] or ""))  # fmt: skip
        out_console.print(table)
        return
    call_uuid = None
    if call is not None:
        try:
            call_uuid = uuid.UUID(call.strip())
        except ValueError:
            fail(f"--call: {escape(repr(call))} is not a call uuid")
    rows = list_deliveries(
        engine, failed=failed, endpoint_id=endpoint, call_uuid=call_uuid, limit=limit
    )
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in rows]))
        return
    table = Table("id", "endpoint", "event", "call", "status", "tries", "last", "next try (UTC)")
    for r in rows:
        last = escape(r.last_error or (str(r.last_status_code) if r.last_status_code else ""))
        shown = r.as_json()
        table.add_row(str(r.id), str(r.endpoint_id), r.event, r.call_uuid or "-", r.status,
                      str(r.attempts), last, shown["nextTryAt"] or "")  # fmt: skip
    out_console.print(table)


@app.command("replay")
def replay_command(
    delivery_id: int | None = typer.Argument(None, help="The delivery to send again."),
    since: str | None = typer.Option(
        None, "--since", help="Every event written since this time (ISO 8601, e.g. "
        "2026-06-12T20:00:00Z), delivered or not."
    ),
    endpoint: int | None = typer.Option(None, "--endpoint", help="Only this endpoint's."),
) -> None:
    """Send events again, with their webhook-id unchanged (receivers dedupe on it)."""
    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
        except ValueError:
            fail(f"--since: not an ISO 8601 time: {escape(repr(since))}")
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    if (delivery_id is None) == (when is None):
        fail("replay: give a DELIVERY_ID or --since TIME (one of them)")
    with _errors():
        count = replay(
            open_engine(load_settings()), delivery_id=delivery_id, since=when,
            endpoint_id=endpoint,
        )  # fmt: skip
    out_console.print(
        f"{count} webhook event{'s' if count != 1 else ''} queued again", highlight=False
    )
