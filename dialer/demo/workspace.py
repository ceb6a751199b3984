"""The demo's own world inside its output directory: a fresh SQLite database and settings that
point at it, so a demo never touches ``./data`` or a configured server and two runs start from
the same empty state.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine

from dialer.config import Settings
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade

DATABASE_NAME = "demo.sqlite3"
SAMPLE_LIST = "demo_contacts.csv"
SAMPLE_CAMPAIGN = "demo_campaign.yaml"


def sample_path(name: str) -> Path:
    """A packaged sample file (``dialer/samples/<name>``) as a path on disk."""
    return Path(str(resources.files("dialer") / "samples" / name))


def prepare_out_dir(out: Path) -> None:
    """Create ``out`` (and its parents); raises :class:`OSError` when it cannot be."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)


def fresh_database(out: Path) -> tuple[Engine, str]:
    """A new, migrated SQLite file in ``out`` (the previous demo's is deleted first)."""
    path = out / DATABASE_NAME
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    return engine, url


def demo_settings(base: Settings, url: str, out: Path) -> Settings:
    """``base`` (the environment's, for timeouts and the like) on the demo's database, with the
    in-process lease backend, one default node and trunk, no extra calling rules and no
    metrics port: nothing of the user's set-up changes what the demo does."""
    defaults = Settings.model_fields
    return base.model_copy(
        update={
            "database_url": url,
            "data_dir": out,
            "redis_url": None,
            "fs_nodes": defaults["fs_nodes"].default,
            "trunks_json": None,
            "calling_rules_json": None,
            "metrics_port": None,
            "default_region": "US",
            "import_reject_types": ("premium_rate",),
        }
    )


def sample_rows(rows: int | None, out: Path) -> tuple[Path, int]:
    """The shipped list, or its first ``rows`` data rows copied into ``out``; and its size.
    Raises :class:`ValueError` for a count outside 1 … the list's size."""
    source = sample_path(SAMPLE_LIST)
    with source.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    header, data = lines[0], lines[1:]
    if rows is None or rows == len(data):
        return source, len(data)
    if not 1 <= rows <= len(data):
        raise ValueError(f"--rows: between 1 and {len(data)} (the shipped list), got {rows}")
    target = out / SAMPLE_LIST
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(data[:rows])
    return target, rows
