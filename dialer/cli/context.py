"""What every sub-command needs: settings, an engine on a migrated schema, and error output."""

from __future__ import annotations

import shlex
import sys
from importlib import resources
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

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
    url = settings.effective_database_url
    try:
        engine = make_engine(url)
        ensure_schema(engine)
    except Exception as exc:  # bad URL, connection refused, bad credentials, unknown database
        shown = make_url_safe(url)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"cannot open database {shown}: {type(exc).__name__}: {detail}")
    return engine


def make_url_safe(url: str) -> str:
    """The URL with its password hidden, or as given when it does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return repr(url)


def write_sample(name: str, path: Path, next_step: str) -> None:
    """Write the packaged sample ``dialer/samples/<name>`` to ``path`` (never over a file)."""
    data = (resources.files("dialer") / "samples" / name).read_bytes()
    try:
        with path.open("xb") as out:
            out.write(data)
    except FileExistsError:
        fail(f"{path} exists; not overwriting it")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    out_console.print(
        next_step.format(path=path, quoted=shlex.quote(str(path))), highlight=False, markup=False
    )
