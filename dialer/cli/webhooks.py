"""``dialer webhooks``: the endpoints that hear about every call (campaign.* events)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.markup import escape
from rich.table import Table

from dialer.cli.context import fail, load_settings, open_engine, out_console
from dialer.webhooks import WebhookError, add_endpoint, list_endpoints, remove_endpoint

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
                      "yes" if e.active else "no", e.secret_hint)  # fmt: skip
    out_console.print(table)


@app.command("remove")
def remove_command(endpoint_id: int = typer.Argument(..., help="The endpoint's id.")) -> None:
    """Forget an endpoint (and its delivery log)."""
    with _errors():
        remove_endpoint(open_engine(load_settings()), endpoint_id)
    out_console.print(f"webhook endpoint {endpoint_id} removed", highlight=False)
