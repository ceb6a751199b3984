"""``dialer campaigns``: create campaigns from YAML files, start, pause, resume, cancel, watch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.table import Table

from dialer.campaigns import (
    CampaignConfigError,
    CampaignError,
    CampaignFileError,
    CampaignInfo,
    CampaignStatus,
    campaign_status,
    cancel_campaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    load_campaign_file,
    pause_campaign,
    resume_campaign,
    start_campaign,
    wait_for_campaign,
)
from dialer.cli.context import (
    err_console,
    fail,
    load_settings,
    open_engine,
    out_console,
    write_sample,
)

app = typer.Typer(
    help="Campaigns: create from a YAML file, start, pause, resume, cancel, watch.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print the result as JSON.")
_ID = typer.Argument(..., help="Campaign id.", min=1)


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors as one ``error: …`` line (exit 2); user text is never read as markup."""
    try:
        yield
    except CampaignFileError as exc:
        fail(escape("; ".join(exc.problems)))
    except CampaignConfigError as exc:
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        fail(escape(f"invalid campaign:\n{lines}"))
    except CampaignError as exc:
        fail(escape(str(exc)))
    except sa.exc.SQLAlchemyError as exc:
        fail(escape(f"database error: {str(exc).splitlines()[0]}"))


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data))


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


def _holidays(value: str | list[date] | None) -> str:
    if not value:
        return ""
    shown = value if isinstance(value, str) else ", ".join(day.isoformat() for day in value)
    return f", holidays {shown}"


def _lists(info: CampaignInfo) -> str:
    return ", ".join(f"{ref.id} {ref.name}" if ref.name else f"{ref.id} (deleted)"
                     for ref in info.lists)  # fmt: skip


def _print_campaign(info: CampaignInfo) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    config = info.config
    schedule = config.schedule
    rows = [
        ("id", str(info.id)),
        ("name", info.name),
        ("type", info.type),
        ("status", info.status),
        ("company", info.company_id or ""),
        ("lists", _lists(info)),
        ("trunk", info.trunk),
        ("caller id", config.caller_id.number + (f" ({config.caller_id.name})"
                                                 if config.caller_id.name else "")),
        ("pacing", f"{info.pacing.max_channels} channels, {info.pacing.cps:g} calls/s"),
        ("window", f"{schedule.window} on {', '.join(schedule.days)}"
                   + _holidays(schedule.holidays)),
        ("start / end", f"{_when(schedule.start) or 'at once'} / {_when(schedule.end) or '-'}"),
        ("ring timeout", f"{config.ring_timeout}s, calls at most {config.max_duration}s"),
        ("retries", ", ".join(f"{o}: {r.max_attempts} attempts, {r.delay}s"
                              + (f" x{r.backoff:g}" if r.backoff != 1 else "")
                              for o, r in config.retries.items()) or "none"),
        ("created", _when(info.created_at)),
        ("updated", _when(info.updated_at)),
        ("started", _when(info.started_at)),
        ("finished", _when(info.finished_at)),
    ]  # fmt: skip
    for key, value in rows:
        table.add_row(key, escape(value))
    out_console.print(table)


def _print_status(status: CampaignStatus) -> None:
    out_console.print(
        f"campaign [bold]{status.campaign_id}[/] ({escape(repr(status.name))}): "
        f"[bold]{status.status}[/], {status.progress:.1%} of {status.total} recipients final; "
        f"{status.active_calls} calls live, "
        f"{status.calls_per_second_last_minute:.2f} calls/s over the last minute",
        highlight=False,
    )
    counts = Table("recipients", "n", title=None)
    for name, count in status.recipients.items():
        counts.add_row(name, str(count))
    attempts = Table("attempts", "n")
    for name, count in status.attempts.items():
        attempts.add_row(name, str(count))
    tables: list[Table] = [counts, attempts]
    for title, values in (
        ("final outcome", status.final_outcomes),
        ("blocked", status.blocked),
        ("call outcome", status.attempt_outcomes),
        ("AMD result", status.amd_results),
        ("AMD by", status.amd_methods),
        ("queue handoff", status.queue_handoffs),
    ):
        if values:
            table = Table(title, "n")
            for name, count in values.items():
                table.add_row(escape(name), str(count))
            tables.append(table)
    # three tables a row: readable in 80 columns, however many sections the campaign has
    for start in range(0, len(tables), 3):
        grid = Table.grid(padding=(0, 2))
        grid.add_row(*tables[start : start + 3])
        out_console.print(grid)


def _transition(run: Callable[[], CampaignInfo], verb: str) -> None:
    with _errors():
        info = run()
    out_console.print(f"campaign {info.id} {verb}: now {info.status}", highlight=False)


@app.command("create")
def create_command(
    path: Path = typer.Argument(..., help="Campaign YAML file."), as_json: bool = _JSON
) -> None:
    """Create a draft campaign from a YAML file (its lists must exist)."""
    settings = load_settings()
    with _errors():
        config = load_campaign_file(path)
    engine = open_engine(settings)
    with _errors():
        info = create_campaign(engine, config, settings=settings)
    for warning in config.warnings():  # valid, but probably not what was meant
        err_console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
    if as_json:
        _echo_json(info.as_json())
        return
    out_console.print(
        f"campaign [bold]{info.id}[/] ({escape(repr(info.name))}) created as draft; "
        f"start it with: dialer campaigns start {info.id}",
        highlight=False,
    )


@app.command("list")
def list_command(as_json: bool = _JSON) -> None:
    """List the campaigns."""
    engine = open_engine(load_settings())
    with _errors():
        infos = list_campaigns(engine)
    if as_json:
        _echo_json([info.as_json() for info in infos])
        return
    table = Table("id", "name", "type", "status", "lists", "trunk", "pacing", "created")
    for info in infos:
        table.add_row(
            str(info.id),
            escape(info.name),
            info.type,
            info.status,
            escape(_lists(info)),
            escape(info.trunk),
            f"{info.pacing.max_channels} ch, {info.pacing.cps:g}/s",
            _when(info.created_at),
        )
    out_console.print(table)


@app.command("show")
def show_command(campaign_id: int = _ID, as_json: bool = _JSON) -> None:
    """Show one campaign and its configuration."""
    engine = open_engine(load_settings())
    with _errors():
        info = get_campaign(engine, campaign_id)
    if as_json:
        _echo_json(info.as_json())
        return
    _print_campaign(info)


@app.command("active")
def active_command(campaign_id: int = _ID, as_json: bool = _JSON) -> None:
    """The campaign's calls up now, against its channel limit (getCampaignActive)."""
    from dialer.campaigns.active import campaign_active

    engine = open_engine(load_settings())
    with _errors():
        active = campaign_active(engine, campaign_id)
    if as_json:
        _echo_json(active)
        return
    out_console.print(
        f"campaign {campaign_id}: {active['activeChannels']}/{active['maxChannels']} channels"
        " in use",
        highlight=False,
    )
    if active["calls"]:
        table = Table("call", "to", "status", "stage", "node", "since")
        for call in active["calls"]:
            table.add_row(call["callUuid"], call["toNumber"], call["status"], call["stage"],
                          call["node"] or "", call["startedAt"] or "")  # fmt: skip
        out_console.print(table)


@app.command("start")
def start_command(campaign_id: int = _ID) -> None:
    """Start a draft campaign: its recipients are queued for calling."""
    engine = open_engine(load_settings())
    with _errors():
        result = start_campaign(engine, campaign_id)
    info = result.campaign
    when = ""
    if info.status == "scheduled" and info.config.schedule.start is not None:
        when = f" (dialling from {_when(info.config.schedule.start)})"
    out_console.print(
        f"campaign {info.id} started: now {info.status}{when}; {result.recipients} recipients"
        f" ({result.skipped_dnc} on the DNC list skipped, {result.duplicates} numbers in more"
        " than one list counted once)",
        highlight=False,
    )


@app.command("pause")
def pause_command(campaign_id: int = _ID) -> None:
    """Pause: no new calls; calls in progress finish."""
    engine = open_engine(load_settings())
    _transition(lambda: pause_campaign(engine, campaign_id), "paused")


@app.command("resume")
def resume_command(campaign_id: int = _ID) -> None:
    """Resume a paused campaign."""
    engine = open_engine(load_settings())
    _transition(lambda: resume_campaign(engine, campaign_id), "resumed")


@app.command("cancel")
def cancel_command(campaign_id: int = _ID) -> None:
    """Cancel: nobody else is called; calls in progress finish and are recorded."""
    engine = open_engine(load_settings())
    with _errors():
        result = cancel_campaign(engine, campaign_id)
    out_console.print(
        f"campaign {result.campaign.id} cancelled: {result.recipients_cancelled} recipients"
        f" and {result.attempts_cancelled} queued calls cancelled;"
        f" {result.live_calls} calls in progress left to finish",
        highlight=False,
    )


@app.command("status")
def status_command(campaign_id: int = _ID, as_json: bool = _JSON) -> None:
    """Counts of recipients and calls, live calls and the recent pace."""
    engine = open_engine(load_settings())
    with _errors():
        status = campaign_status(engine, campaign_id)
    if as_json:
        _echo_json(status.as_json())
        return
    _print_status(status)


@app.command("wait")
def wait_command(
    campaign_id: int = _ID,
    timeout: float | None = typer.Option(
        None, "--timeout", min=0, help="Give up after this many seconds (exit status 1)."
    ),
    as_json: bool = _JSON,
) -> None:
    """Wait until the campaign is completed or cancelled (exit 0), or the timeout (exit 1)."""
    engine = open_engine(load_settings())
    with _errors():
        final = wait_for_campaign(engine, campaign_id, timeout=timeout)
        status = final or campaign_status(engine, campaign_id)
    if as_json:
        _echo_json(status.as_json())
    else:
        if final is None:
            out_console.print(
                f"timed out after {timeout or 0:g}s; campaign {campaign_id} is {status.status}",
                highlight=False,
            )
        _print_status(status)
    if final is None:
        raise typer.Exit(1)


@app.command("sample")
def sample_command(
    path: Path = typer.Argument(..., help="Where to write the sample YAML (never overwritten)."),
) -> None:
    """Write the sample campaign that ships with the dialer (it calls the "Sample list")."""
    write_sample(
        "campaign.yaml",
        path,
        "sample campaign written to {path}; create it with: dialer campaigns create {quoted}",
    )
