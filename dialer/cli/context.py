"""What every sub-command needs: settings, an engine on a migrated schema, and error output."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console
from sqlalchemy import Engine

from dialer.config import ConfigError, Settings, get_settings
from dialer.db.engine import make_engine
from dialer.db.migrate import ensure_schema

err_console = Console(stderr=True)
out_console = Console()


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(code)


def load_settings() -> Settings:
    try:
        return get_settings()
    except ConfigError as exc:
        fail(str(exc))


def open_engine(settings: Settings) -> Engine:
    """An engine whose schema is current; the embedded mode migrates itself."""
    engine = make_engine(settings.effective_database_url)
    try:
        ensure_schema(engine)
    except Exception as exc:  # connection refused, bad credentials, unknown database ...
        fail(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
    return engine
