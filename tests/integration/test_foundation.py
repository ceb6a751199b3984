"""Settings switch backends: the embedded default needs no server; URLs switch to real ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from dialer.config import ConfigError, Settings, get_settings
from dialer.db.migrate import head_revision
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env.update(values)
    return env


def test_embedded_default_is_a_sqlite_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.embedded
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'dialer.sqlite3').resolve()}"
    assert Settings(database_url="postgresql://u@h/db").effective_database_url == (
        "postgresql+psycopg://u@h/db"
    )


def test_broken_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_IMPORT_BLOCK_MIB", "-5")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="DIALER_IMPORT_BLOCK_MIB"):
            get_settings()
    finally:
        get_settings.cache_clear()


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=_env(**env), cwd=ROOT, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip


def test_celery_app_uses_memory_broker_by_default() -> None:
    done = _run("from workers.app import app; print(app.conf.broker_url)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "memory://"


def test_celery_app_reaches_real_redis_when_configured() -> None:
    code = (
        "from workers.app import app\n"
        "with app.connection_for_write() as conn:\n"
        "    conn.ensure_connection(max_retries=1)\n"
        "    print(conn.transport_cls, conn.connected)\n"
    )
    done = _run(code, DIALER_REDIS_URL=REDIS_URL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["redis", "True"]


def test_db_upgrade_command_on_postgres_and_sqlite(postgres_url: str, tmp_path: Path) -> None:
    admin = sa.create_engine(
        sa.engine.make_url(postgres_url).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    fresh = f"dialer_upgrade_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{fresh}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{fresh}"'))
    try:
        url = sa.engine.make_url(postgres_url).set(database=fresh).render_as_string(False)
        for env in ({"DIALER_DATABASE_URL": url}, {"DIALER_DATA_DIR": str(tmp_path)}):
            done = subprocess.run(
                [sys.executable, "-m", "dialer", "db", "upgrade"], env=_env(**env), cwd=ROOT,
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert f"database at revision {head_revision()}" in done.stdout
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)'))
        admin.dispose()
