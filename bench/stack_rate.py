"""Originates per second through the whole distributed stack vs the ESL adapter alone, against
the same simulator in the same run, and CPU milliseconds per call over every dialer process.

    .venv/bin/python -m bench.stack_rate [--calls 4000] [--workers 2] [--concurrency 100]

The stack is real processes (``tests/stack/harness.py``): the simulator, N gevent originate
workers, the scheduler worker, redbeat beat and the consumer, on PostgreSQL and Redis. The
simulator answers at once and the callee hangs up at once (minimal call latency), and no limit
binds (channels and cps far above what the stack reaches), so the rate is the engine's own:
tick → Celery → worker → lease → claim → bgapi, and the consumer finalising every call.

- **adapter alone**: ``bench.esl_originate_rate.adapter_rate`` against the stack's simulator
  before the campaign starts (goal: stack / adapter >= 0.5).
- **CPU ms per call**: user + system time of the workers, beat and consumer (from
  ``/proc/<pid>/stat``) over the campaign, divided by its calls (goal <= 2 ms). The simulator,
  PostgreSQL and Redis are not dialer processes and are not counted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers

from bench.esl_originate_rate import adapter_rate
from bench.scratch_db import scratch_database
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from dialer.esl import DialTemplate
from dialer.lists import ImportOptions, import_list
from dialer.trunks import DEFAULT_DIAL
from tests.stack.harness import Stack, make_campaign, read_ledger, wait_campaign

# (zone, number pattern): numbers of a zone whose 08:00-21:00 window is open now
REGIONS = (
    ("America/New_York", "+1212{:07d}", 2_000_000),
    ("Europe/London", "+44207{:07d}", 0),
    ("Australia/Sydney", "+6129{:07d}", 0),
    ("Asia/Tokyo", "+813{:08d}", 10_000_000),
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def open_numbers(count: int) -> list[str]:
    now = datetime.now(UTC)
    for zone, pattern, base in REGIONS:
        hour = now.astimezone(ZoneInfo(zone)).hour
        if 9 <= hour < 20:
            out: list[str] = []
            i = 0
            while len(out) < count:
                candidate = pattern.format(base + i)
                i += 1
                if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
                    out.append(candidate)
            return out
    raise RuntimeError("no region of the bench is inside its calling window now")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def start_profilers(pids: dict[str, int], folder: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on every process (collapsed stacks, idle frames left out), until SIGINT."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    folder.mkdir(parents=True, exist_ok=True)
    spies = []
    for key, pid in pids.items():
        argv = [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
        argv += ["--nonblocking", "--output", str(folder / f"{key}.txt")]
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--adapter-calls", type=int, default=3000)
    parser.add_argument(
        "--profile", type=Path, metavar="DIR",
        help="sample every dialer process with py-spy during the campaign (collapsed stacks "
        "in DIR/<process>.txt; py-spy must be installed)",
    )  # fmt: skip
    args = parser.parse_args()

    with scratch_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        with tempfile.TemporaryDirectory() as tmp:
            scenario = {
                "name": "instant",
                "ring": [0.0, 0.0],
                "outcomes": {"answer": 1.0},
                # hang up right after the +OK (20 ms after the answer): the shortest answered call
                "numbers": {"+*": {"hangup_after": 0.1}},
            }
            with Stack(
                Path(tmp),
                url,
                scenario=scenario,
                time_scale=1.0,
                originate_workers=args.workers,
                concurrency=args.concurrency,
                node_max_channels=100_000,
                node_sps=100_000,
                sim_sps=100_000,
                sim_max_sessions=100_000,
            ) as stack:
                numbers = open_numbers(args.calls)
                # the same call as the stack's: the default trunk, an instant answer and hangup
                adapter = adapter_rate(
                    ("127.0.0.1", stack.sim_port), args.adapter_calls, 100,
                    template=DialTemplate(DEFAULT_DIAL), number=numbers[0],
                )  # fmt: skip
                csv = Path(tmp) / "bench.csv"
                csv.write_text("phone\n" + "\n".join(numbers) + "\n", encoding="utf-8")
                import_list(engine, csv, ImportOptions(name="bench"))
                pids = {
                    key: proc.pid
                    for key, proc in stack.procs.items()
                    if key != "simulator" and proc.pid is not None
                }
                spies = start_profilers(pids, args.profile) if args.profile else []
                before = {key: cpu_seconds(pid) for key, pid in pids.items()}
                started = time.monotonic()
                campaign = make_campaign(
                    engine, stack.settings, name="bench", lists=["bench"],
                    max_channels=100_000, cps=1000,
                )  # fmt: skip
                wait_campaign(engine, campaign, timeout=args.calls / 20 + 120)
                elapsed = time.monotonic() - started
                used = {key: cpu_seconds(pid) - before[key] for key, pid in pids.items()}
                for spy in spies:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=30)
                cpu = sum(used.values())
                facts = read_ledger(stack.ledger_path)
        starts = sorted(
            float(f["t"]) for f in facts if f["event"] == "originate" and f.get("campaign_id")
        )
        cut = len(starts) // 10
        steady = starts[cut : len(starts) - cut]
        rate = (len(steady) - 1) / (steady[-1] - steady[0])
        print(f"adapter alone: {adapter:,.0f} originates/s")
        print(
            f"whole stack ({args.workers} workers x -c {args.concurrency}): {rate:,.0f} "
            f"originates/s over the steady 80 % ({len(starts)} calls in {elapsed:.1f} s "
            f"from start to completed)"
        )
        print(f"ratio stack / adapter: {rate / adapter:.2f} (goal >= 0.5)")
        print(
            f"CPU per call over workers, beat and consumer: {cpu / len(starts) * 1000:.2f} ms "
            f"(goal <= 2 ms)"
        )
        print(
            "  by process: "
            + ", ".join(f"{key} {spent / len(starts) * 1000:.2f}" for key, spent in used.items())
        )
        engine.dispose()


if __name__ == "__main__":
    main()
