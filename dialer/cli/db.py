"""``dialer db``: schema migrations."""

from __future__ import annotations

import typer

from dialer.cli.context import fail, load_settings, out_console
from dialer.db.engine import make_engine
from dialer.db.migrate import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the configured database to REVISION (default: head)."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine, revision)
    except Exception as exc:
        fail(f"migration failed: {type(exc).__name__}: {exc}")
    out_console.print(f"database at revision [bold]{current_revision(engine)}[/]")


@app.command("current")
def current_command() -> None:
    """Show the database's revision and the code's head."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    out_console.print(f"database: {current_revision(engine)}  head: {head_revision()}")
