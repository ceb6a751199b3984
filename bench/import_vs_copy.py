"""Benchmark: `dialer lists import` of a 1M-row CSV vs a raw PostgreSQL COPY.

Generates a seeded file of one of two shapes, imports it into a fresh PostgreSQL database with
the real CLI in a child process (so its peak RSS is measured alone), then COPYs the very rows
the import stored into an identical table and prints the ratio. Not part of the timed test
suite.

* ``--shape messy`` (default): the torture file of ``tests/support/messy_csv`` (~10 % bad
  rows, duplicates, several countries, 1 % DNC hits), ~75 bytes a row;
* ``--shape crm``: a CRM export (``bench/crm_csv.py``): ~70 % formatted NANP numbers, ~10 %
  international, ~8 % duplicates, ~10 % garbage, ~300 bytes of other columns a row and a
  3 KB note on one row in ten.

    .venv/bin/python -m bench.import_vs_copy --rows 1000000 --shape crm
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.crm_csv import generate_crm
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from tests.support.messy_csv import generate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres:postgres@127.0.0.1:5432/test"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--postgres", default=os.environ.get("DIALER_TEST_POSTGRES_URL", DEFAULT_URL)
    )
    parser.add_argument("--shape", choices=("messy", "crm"), default="messy")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dialer-bench-"))
    csv_path = workdir / "contacts.csv"
    started = time.perf_counter()
    dnc_numbers: frozenset[str] = frozenset()
    if args.shape == "crm":
        generate_crm(csv_path, args.rows, seed=args.seed)
    else:
        dnc_numbers = generate(csv_path, args.rows, seed=args.seed, dnc_share=0.01).dnc
    print(
        f"generated {args.shape} {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.1f}s"
    )

    admin = make_engine(args.postgres).execution_options(isolation_level="AUTOCOMMIT")
    name = f"dialer_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        if dnc_numbers:
            with engine.begin() as conn:
                conn.execute(
                    sa.text("INSERT INTO dnc_numbers (phone_e164, source) VALUES (:n, 'bench')"),
                    [{"n": number} for number in sorted(dnc_numbers)],
                )
        ours, result, peak_mb = _run_import(url, csv_path)
        copy_seconds = _raw_copy(engine, workdir)
        print(json.dumps(result))
        print(
            f"rows {result['rows']:,}  accepted {result['accepted']:,}  "
            f"rejected {sum(result['rejected'].values()):,}"
        )
        print(f"dialer lists import : {ours:8.2f} s   (peak RSS {peak_mb:.0f} MB)")
        print(f"raw COPY, same rows : {copy_seconds:8.2f} s")
        print(f"ratio import / COPY : {ours / copy_seconds:8.2f}x   (goal <= 2x)")
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for path in workdir.iterdir():
                path.unlink()
            workdir.rmdir()
        admin.dispose()
    return 0


def _run_import(url: str, csv_path: Path) -> tuple[float, dict[str, Any], float]:
    env = dict(os.environ, DIALER_DATABASE_URL=url)
    command = [
        str(ROOT / ".venv" / "bin" / "dialer"),
        "lists",
        "import",
        str(csv_path),
        "--name",
        "bench",
        "--json",
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"import failed: {completed.stderr}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, json.loads(completed.stdout), peak_kb / 1024


def _raw_copy(engine: sa.Engine, workdir: Path) -> float:
    """COPY the stored rows into an identical table (same columns, keys, indexes, FK)."""
    dump = workdir / "final_rows.csv"
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            with (
                dump.open("wb") as out,
                cursor.copy(
                    "COPY recipients (list_id, phone_e164, timezones, fields, row_no) "
                    "TO STDOUT (FORMAT csv)"
                ) as copy,
            ):
                for data in copy:
                    out.write(data)
            cursor.execute("CREATE TABLE recipients_copy (LIKE recipients INCLUDING ALL)")
            cursor.execute(
                "ALTER TABLE recipients_copy ADD FOREIGN KEY (list_id) "
                "REFERENCES contact_lists (id) ON DELETE CASCADE"
            )
            driver.commit()
            started = time.perf_counter()
            with (
                dump.open("rb") as source,
                cursor.copy(
                    "COPY recipients_copy (list_id, phone_e164, timezones, fields, row_no) "
                    "FROM STDIN (FORMAT csv)"
                ) as copy,
            ):
                while block := source.read(1 << 20):
                    copy.write(block)
            driver.commit()
            return time.perf_counter() - started
    finally:
        raw.close()


if __name__ == "__main__":
    sys.exit(main())
