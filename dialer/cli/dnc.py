"""``dialer dnc``: the do-not-call list."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dialer.cli.context import fail, load_settings, open_engine, out_console

app = typer.Typer(help="Do-not-call list: numbers that are never dialled.", no_args_is_help=True)

_REGION = typer.Option(None, "--default-region", help="Region for numbers without +CC.")


def _region(value: str | None) -> str:
    return (value or load_settings().default_region).strip().upper()


@app.command("add")
def add_command(
    numbers: list[str] = typer.Argument(..., help="Numbers to add."),
    reason: str | None = typer.Option(None, "--reason"),
    default_region: str | None = _REGION,
) -> None:
    """Add numbers to the DNC list."""
    from dialer import dnc  # not at start-up: slow

    engine = open_engine(load_settings())
    try:
        added = dnc.add(engine, numbers, region=_region(default_region), reason=reason)
    except dnc.DncError as exc:
        fail(f"nothing added: {exc}")
    out_console.print(f"{added} added, {len(set(numbers)) - added} already listed")


@app.command("remove")
def remove_command(
    numbers: list[str] = typer.Argument(...), default_region: str | None = _REGION
) -> None:
    """Remove numbers from the DNC list."""
    from dialer import dnc  # not at start-up: slow

    engine = open_engine(load_settings())
    try:
        removed = dnc.remove(engine, numbers, region=_region(default_region))
    except dnc.DncError as exc:
        fail(f"nothing removed: {exc}")
    out_console.print(f"{removed} removed")


@app.command("check")
def check_command(
    numbers: list[str] = typer.Argument(...),
    default_region: str | None = _REGION,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Tell whether numbers are on the DNC list (exit status 1 if any is)."""
    from dialer import dnc  # not at start-up: slow

    engine = open_engine(load_settings())
    try:
        listed = dnc.check(engine, numbers, region=_region(default_region))
    except dnc.DncError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(listed))
    else:
        for number, on_list in listed.items():
            out_console.print(f"{number}: {'ON DNC' if on_list else 'not listed'}", highlight=False)
    raise typer.Exit(1 if any(listed.values()) else 0)


@app.command("import")
def import_command(
    path: Path = typer.Argument(...),
    reason: str | None = typer.Option(None, "--reason"),
    phone_column: str | None = typer.Option(None, "--phone-column"),
    default_region: str | None = _REGION,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add every valid number in a CSV file to the DNC list."""
    from dialer import dnc  # not at start-up: slow
    from dialer.lists import ListImportError

    engine = open_engine(load_settings())
    try:
        result = dnc.import_file(
            engine, path, region=_region(default_region), reason=reason, phone_column=phone_column
        )
    except ListImportError as exc:
        fail(f"nothing imported: {exc}")
    if as_json:
        typer.echo(json.dumps(result.__dict__))
    else:
        out_console.print(
            f"{result.rows} rows: {result.added} added, {result.already_listed} already listed, "
            f"{result.invalid} invalid"
        )
