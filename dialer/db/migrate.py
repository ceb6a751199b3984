"""Alembic driven from code: ``dialer db upgrade`` and the embedded mode's self-migration."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_PACKAGE = "dialer.migrations"


@cache
def migrations_dir() -> Path:
    """Alembic's script directory: the package ``dialer.migrations``.

    The scripts live in the top-level ``migrations/`` of the source tree; ``setup.py`` maps that
    folder into the package, so a wheel carries it inside ``dialer/migrations`` and an editable
    install's import hook points the package at the source folder. Run from a checkout that was
    never installed (``PYTHONPATH=.``), the package does not exist and the folder is used.
    """
    try:
        root = resources.files(MIGRATIONS_PACKAGE)
    except ModuleNotFoundError:
        root = Path(__file__).resolve().parents[2] / "migrations"
    if not isinstance(root, Path):  # e.g. imported from a zip file: Alembic needs a folder
        raise RuntimeError(f"{MIGRATIONS_PACKAGE} is not on the file system ({root})")
    if not (root / "env.py").is_file():
        raise RuntimeError(f"migrations directory not found at {root}")
    return root


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def ensure_schema(engine: Engine) -> None:
    """Bring the schema to head if it is behind (cheap when it is current)."""
    if current_revision(engine) != head_revision():
        upgrade(engine)
