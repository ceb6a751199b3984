"""Channel fill and pacing through the whole distributed stack, judged by the switch's ledger.

    .venv/bin/python -m bench.stack_fill [--channels 200] [--talk 10] [--cps 20]

The same two runs as ``bench/engine_fill.py`` (which runs the embedded mode), on the real
processes of ``tests/stack/harness.py``: the simulator, two gevent originate workers, the
scheduler worker, redbeat beat and the consumer, on PostgreSQL and Redis; every call answered
after ``--ring`` seconds and hung up ``--talk`` seconds later.

1. **fill**: ``max_channels`` = ``--channels``, cps high enough never to bind; mean live
   channels / limit over the steady state (goal >= 0.98) and the peak above the limit
   (overshoot, goal 0).
2. **pacing**: channels never binding, cps = ``--cps``; originates per second over the
   steady state against the configured rate (goal within ±5 %).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.ledger_figures import fill_arguments, print_fill, print_pacing
from bench.scratch_db import scratch_database
from bench.stack_rate import open_numbers
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from dialer.lists import ImportOptions, import_list
from tests.stack.harness import Stack, make_campaign, read_ledger, wait_campaign


def run_once(
    *, calls: int, channels: int, cps: float, ring: float, talk: float
) -> list[dict[str, Any]]:
    with scratch_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        with tempfile.TemporaryDirectory() as tmp:
            scenario = {
                "name": "fixed",
                "ring": [ring, ring],
                "outcomes": {"answer": 1.0},
                "talk": [talk, talk],
                "patience": [talk, talk],
            }
            with Stack(
                Path(tmp),
                url,
                scenario=scenario,
                time_scale=1.0,
                originate_workers=2,
                concurrency=100,
                node_max_channels=100_000,
                node_sps=100_000,
                sim_sps=100_000,
                sim_max_sessions=100_000,
            ) as stack:
                csv = Path(tmp) / "bench.csv"
                csv.write_text("phone\n" + "\n".join(open_numbers(calls)) + "\n", "utf-8")
                import_list(engine, csv, ImportOptions(name="bench"))
                campaign = make_campaign(
                    engine, stack.settings, name="bench", lists=["bench"],
                    max_channels=channels, cps=cps, ring_timeout=30, max_duration=300,
                )  # fmt: skip
                rate = min(cps, channels / (ring + talk))
                wait_campaign(engine, campaign, timeout=calls / rate * 2 + 120)
                facts = read_ledger(stack.ledger_path)
        engine.dispose()
        return [f for f in facts if f.get("event") in ("originate", "hangup", "answer")]


def main() -> None:
    args = fill_arguments(__doc__.splitlines()[0])
    facts = run_once(
        calls=args.fill_calls, channels=args.channels, cps=1000.0, ring=args.ring, talk=args.talk
    )
    print_fill(facts, args, "distributed")
    facts = run_once(
        calls=args.pacing_calls, channels=100_000, cps=args.cps, ring=args.ring, talk=args.talk
    )
    print_pacing(facts, args, "distributed")

if __name__ == "__main__":
    main()
