"""The dialer as a user installs it: a built wheel in a fresh virtualenv, run far from the sources.

The wheel is built from a copy of the source tree (the work tree is left untouched), installed
with ``--no-deps`` into a new virtualenv, and run with an empty temporary directory as its
working directory, so nothing of the source tree can be imported or read by accident. The new
virtualenv sees this environment's third-party packages through a ``.pth`` file naming a folder
of links to them; the ``dialer`` distribution installed here (editable) is left out of that
folder, so the only ``dialer`` the new virtualenv has is the wheel's. ``pip check`` then holds
the wheel's pins against those packages. Building fetches the build backend (setuptools) from
the package index as any ``pip install .`` does; pip's cache makes that quick after the first run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from dialer.db.engine import make_engine
from dialer.db.migrate import head_revision

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Top-level entries of the work tree that are not inputs of the build.
NOT_BUILD_INPUTS = {
    ".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    "build", "dist", "data", "tests", "bench",
}  # fmt: skip


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path  # empty when the test starts using it; the commands run here

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(
        self, *args: str | Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` with the new virtualenv first on PATH, from ``workdir``."""
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DIALER_", "PYTHON", "VIRTUAL_ENV"))
        }
        full_env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        full_env["COLUMNS"] = "200"  # one output line per message, whatever the terminal
        full_env.update(env or {})
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.workdir, env=full_env, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip

    def dialer(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = self.run(self.venv / "bin" / "dialer", *args, env=env)
        assert done.returncode == 0, f"dialer {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return " ".join(done.stdout.split())


def _pip(*args: str | Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"pip {' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"


def _build_wheel(base: Path) -> Path:
    source = base / "source"
    source.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in NOT_BUILD_INPUTS or entry.name.endswith(".egg-info"):
            continue  # a stale egg-info or build/ would leak old files into the wheel
        if entry.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(entry, source / entry.name, ignore=ignore)
        else:
            shutil.copy2(entry, source / entry.name)
    wheelhouse = base / "wheelhouse"
    _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", wheelhouse, source)
    (wheel,) = wheelhouse.glob("dialer-*.whl")
    return wheel


def _third_party_only(base: Path) -> Path:
    """A folder of links to this environment's installed packages, without ``dialer`` itself."""
    site = Path(sysconfig.get_paths()["purelib"])
    shadow = base / "third-party"
    shadow.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.endswith(".pth") or "dialer" in name or name in {"workers", "__pycache__"}:
            continue  # .pth files are not read from a folder named in a .pth file anyway
        (shadow / entry.name).symlink_to(entry)
    return shadow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(base)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (new_site,) = (venv / "lib").glob("python3*/site-packages")
    (new_site / "_test_third_party.pth").write_text(f"{_third_party_only(base)}\n")
    # pip of this environment, acting on the new one: the new virtualenv needs no pip of its own.
    _pip("--python", venv / "bin" / "python", "install", "--no-deps", "--no-index", "-q", wheel)
    _pip("--python", venv / "bin" / "python", "check")
    workdir = base / "empty"
    workdir.mkdir()
    return Installed(wheel, venv, workdir)


def test_wheel_carries_every_source_file_and_the_migrations(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    for folder, package in [("dialer", "dialer"), ("workers", "workers"),
                            ("migrations", "dialer/migrations")]:  # fmt: skip
        for source in (ROOT / folder).rglob("*.py"):
            assert f"{package}/{source.relative_to(ROOT / folder).as_posix()}" in names
    assert {
        "dialer/migrations/env.py",
        "dialer/migrations/script.py.mako",
        "dialer/migrations/versions/0001_core_tables.py",
        "dialer/samples/contacts.csv",
        "dialer/samples/demo_contacts.csv",
        "dialer/samples/demo_campaign.yaml",
        "dialer/simulator/profiles/demo.yaml",
        "dialer/schemas/call_detail.schema.json",
        "dialer/schemas/campaign.completed.schema.json",
        "dialer/py.typed",
    } <= names
    assert not {n for n in names if n.startswith(("tests/", "bench/", "migrations/"))}


def test_the_installed_package_is_the_wheels(installed: Installed) -> None:
    done = installed.run(
        installed.python,
        "-c",
        "import dialer; from dialer.db.migrate import migrations_dir; "
        "print(dialer.__file__); print(migrations_dir())",
    )
    assert done.returncode == 0, done.stderr
    package_file, migrations = (Path(line) for line in done.stdout.splitlines())
    assert package_file.is_relative_to(installed.venv), package_file
    assert migrations == package_file.parent / "migrations"


def test_readme_first_command_from_an_empty_directory(installed: Installed) -> None:
    """The README's first command, ``dialer demo``, from the wheel (a short list: the demo's
    own test runs it in full), then the import of the sample list, twice: the second adds
    nothing."""
    assert not list(installed.workdir.iterdir())
    demo = installed.dialer("demo", "--rows", "60", "--no-display")
    assert "campaign.completed (one per call)" in demo, demo
    made = {p.name for p in (installed.workdir / "demo-out").iterdir()}
    assert {"outcomes.csv", "cdr.csv", "summary.json", "chart.png", "webhooks.jsonl"} <= made
    shutil.rmtree(installed.workdir / "demo-out")
    written = installed.dialer("lists", "sample", "contacts.csv")
    assert "dialer lists import contacts.csv --name 'Sample list'" in written
    copy = installed.workdir / "contacts.csv"
    assert copy.read_bytes() == (ROOT / "dialer" / "samples" / "contacts.csv").read_bytes()
    refused = installed.run(installed.venv / "bin" / "dialer", "lists", "sample", "contacts.csv")
    assert refused.returncode == 2
    assert "exists; not overwriting it" in refused.stderr

    first = installed.dialer("lists", "import", "contacts.csv", "--name", "Sample list")
    assert "list 1 ('Sample list') created: 66 rows, 61 accepted, 5 rejected" in first, first
    assert (installed.workdir / "data" / "dialer.sqlite3").is_file()  # migrated itself
    second = installed.dialer("lists", "import", "contacts.csv", "--name", "Sample list")
    assert "list 1 ('Sample list') updated: 66 rows, 0 accepted" in second, second
    shown = json.loads(installed.dialer("lists", "show", "--json"))
    assert [(r["name"], r["recipients"]) for r in shown] == [("Sample list", 61)]


def test_db_upgrade_on_sqlite(installed: Installed, tmp_path: Path) -> None:
    env = {"DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}
    head = head_revision()
    assert f"database at revision {head}" in installed.dialer("db", "upgrade", env=env)
    assert installed.dialer("db", "current", env=env) == f"database: {head} head: {head}"


def test_db_upgrade_on_a_new_postgres_database(installed: Installed, postgres_url: str) -> None:
    admin = make_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"dialer_wheel_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.engine.make_url(postgres_url).set(database=name)
        env = {"DIALER_DATABASE_URL": url.render_as_string(hide_password=False)}
        upgraded = installed.dialer("db", "upgrade", env=env)
        assert f"database at revision {head_revision()}" in upgraded
        head = head_revision()
        assert installed.dialer("db", "current", env=env) == f"database: {head} head: {head}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
