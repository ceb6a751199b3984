"""``dialer calls``: one call as the customer-facing contract shows it."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape

from dialer.cli.context import fail, load_settings, open_engine, out_console

app = typer.Typer(
    help="Calls: their detail as campaign.completed carries it.", no_args_is_help=True
)


@app.command("show")
def show_command(
    call_uuid: str = typer.Argument(..., help="The call's uuid (callUuid)."),
    as_json: bool = typer.Option(False, "--json", help="The data object of campaign.completed."),
) -> None:
    """Show one call: outcome, timing, AMD, IVR, queue, recording (and AI agent)."""
    from dialer.call_detail import CallNotFoundError, call_detail  # not at start-up: slow

    settings = load_settings()
    engine = open_engine(settings)
    try:
        detail = call_detail(engine, call_uuid, recordings_url=settings.recordings_url)
    except CallNotFoundError as exc:
        fail(str(exc), code=1)
    if as_json:
        typer.echo(json.dumps(detail))
        return
    _print(detail)


def _print(detail: dict[str, Any]) -> None:
    out_console.print(
        f"call [bold]{detail['callUuid']}[/] to {detail['toNumber']}: "
        f"[bold]{detail['status']}[/], outcome {detail['outcome'] or '-'}",
        highlight=False,
    )
    for part in ("timing", "amd", "ivr", "queue", "recording", "ai"):
        values = detail.get(part)
        if not values:
            continue
        shown = ", ".join(
            f"{name} {escape(str(value))}"
            for name, value in values.items()
            if value not in (None, [], False) or name in ("enabled", "entered")
        )
        out_console.print(f"  {part}: {shown}", highlight=False)
    for name in ("campaignId", "recipientId", "companyId", "hangupCause", "disposition"):
        if detail.get(name) is not None:
            out_console.print(f"  {name}: {escape(str(detail[name]))}", highlight=False)
