"""``dialer lists``: contact lists."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import sqlalchemy as sa
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from dialer.cli.context import (
    err_console,
    fail,
    load_settings,
    open_engine,
    out_console,
    write_sample,
)
from dialer.db.models import Base
from dialer.lists import ImportOptions, ListImportError, import_list

app = typer.Typer(help="Contact lists: import CSV files, list what is there.", no_args_is_help=True)


@app.command("import")
def import_command(
    path: Path = typer.Argument(..., help="CSV file (comma, semicolon, tab or pipe separated)."),
    name: str | None = typer.Option(None, "--name", help="List name (created if new)."),
    list_id: int | None = typer.Option(None, "--list", help="Import into this existing list."),
    default_region: str | None = typer.Option(
        None,
        "--default-region",
        help="Region for numbers without +CC (default DIALER_DEFAULT_REGION or US).",
    ),
    phone_column: str | None = typer.Option(None, "--phone-column", help="Column with the number."),
    timezone_column: str | None = typer.Option(
        None, "--timezone-column", help="Column with an IANA zone that overrides the number's."
    ),
    rejects: Path | None = typer.Option(None, "--rejects", help="Write rejected rows to this CSV."),
    reject_type: list[str] | None = typer.Option(
        None,
        "--reject-type",
        help="Number type to refuse as unsupported_type (repeatable; default from "
        "DIALER_IMPORT_REJECT_TYPES: premium_rate).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Import a CSV file of recipients into a list."""
    settings = load_settings()
    options = ImportOptions(
        name=name,
        list_id=list_id,
        default_region=(default_region or settings.default_region).strip().upper(),
        phone_column=phone_column,
        timezone_column=timezone_column,
        rejects_path=rejects,
        block_size=settings.import_block_mib << 20,
        reject_types=frozenset(
            t.strip().lower() for t in (reject_type or settings.import_reject_types)
        ),
    )
    engine = open_engine(settings)
    show_progress = not as_json and sys.stderr.isatty()
    try:
        if show_progress:
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task(f"importing {path.name}", total=None)
                result = import_list(
                    engine,
                    path,
                    options,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        else:
            result = import_list(engine, path, options)
    except ListImportError as exc:
        fail(f"nothing imported: {exc}")
    except sa.exc.SQLAlchemyError as exc:
        fail(f"nothing imported: database error: {str(exc).splitlines()[0]}")
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    verb = "created" if result.created else "updated"
    out_console.print(
        f"list [bold]{result.list_id}[/] ({result.list_name!r}) {verb}: "
        f"{result.rows} rows, [green]{result.accepted} accepted[/], "
        f"{sum(result.rejected.values())} rejected in {result.seconds:.2f}s "
        f"({result.encoding}, {result.delimiter}, phone column {result.phone_column!r})",
        highlight=False,
    )
    if result.rejected:
        table = Table("reason", "rows")
        for reason, count in sorted(result.rejected.items(), key=lambda item: -item[1]):
            table.add_row(reason, str(count))
        out_console.print(table)
    if result.rejects_file:
        out_console.print(f"rejected rows written to {result.rejects_file}", highlight=False)


@app.command("sample")
def sample_command(
    path: Path = typer.Argument(..., help="Where to write the sample CSV (never overwritten)."),
) -> None:
    """Write the sample contact list that ships with the dialer, to try an import on."""
    write_sample(
        "contacts.csv",
        path,
        "sample contact list (a few rows bad on purpose) written to {path}; "
        "import it with: dialer lists import {quoted} --name 'Sample list'",
    )


@app.command("show")
def show_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the lists with their recipient counts."""
    engine = open_engine(load_settings())
    table = Base.metadata.tables["contact_lists"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.id)).mappings().all()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": r["id"],
                        "name": r["name"],
                        "recipients": r["recipient_count"],
                        "rejected": r["rejected_count"],
                        "source_file": r["source_file_name"],
                    }
                    for r in rows
                ]
            )
        )
        return
    out = Table("id", "name", "recipients", "rejected", "last file")
    for r in rows:
        out.add_row(
            str(r["id"]),
            r["name"],
            str(r["recipient_count"]),
            str(r["rejected_count"]),
            r["source_file_name"] or "",
        )
    out_console.print(out)
