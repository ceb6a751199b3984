"""Channel fill and pacing, judged by the switch's own ledger (embedded mode, real time).

    .venv/bin/python -m bench.engine_fill [--channels 200] [--talk 10] [--cps 20]

Two runs of ``dialer run --simulate`` (in-process: scheduler loop, originate pool, consumer,
sweeper, in-process leases, SQLite), every call answered after ``--ring`` seconds and hung up
``--talk`` seconds later:

1. **fill**: ``max_channels`` = ``--channels`` and a cps high enough never to bind; prints the
   mean live channels / limit over the steady state (goal >= 0.98) and the peak above the
   limit (overshoot, goal 0).
2. **pacing**: channels high enough never to bind and cps = ``--cps``; prints the originates
   per second over the steady state against the configured rate (goal within ±5 %).

The steady state is the span from the first moment the limit (or the rate) is reached to the
last admission, so the ramp-up and the drain are left out.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import tempfile  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

from bench.ledger_figures import fill_arguments, print_fill, print_pacing  # noqa: E402
from dialer.campaigns.model import parse_config  # noqa: E402
from dialer.campaigns.service import create_campaign  # noqa: E402
from dialer.clock import FrozenClock  # noqa: E402
from dialer.config import Settings  # noqa: E402
from dialer.db.engine import make_engine  # noqa: E402
from dialer.db.migrate import upgrade  # noqa: E402
from dialer.embedded import EmbeddedRun, RunOptions  # noqa: E402
from dialer.lists import ImportOptions, import_list  # noqa: E402

# A Tuesday at noon in New York: the window is open for the whole run.
START = datetime.fromisoformat("2026-06-02T12:00:00-04:00")


def numbers(count: int) -> list[str]:
    # +1 212 2xx xxxx: valid New York numbers (exchanges 200-999 are not special)
    return [f"+1212{200 + i // 10_000:03d}{i % 10_000:04d}" for i in range(count)]


def run_once(
    workdir: Path, *, calls: int, channels: int, cps: float, ring: float, talk: float
) -> list[dict[str, Any]]:
    url = f"sqlite:///{workdir / 'dialer.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    csv = workdir / "list.csv"
    csv.write_text("phone\n" + "\n".join(numbers(calls)) + "\n")
    import_list(engine, csv, ImportOptions(name="bench"))
    scenario = workdir / "scenario.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "fixed",
                "ring": [ring, ring],
                "outcomes": {"answer": 1.0},
                # a parked call (no call flow yet) ends when the callee's patience runs out
                "talk": [talk, talk],
                "patience": [talk, talk],
            }
        )
    )
    config = parse_config(
        {
            "name": "bench",
            "type": "broadcast",
            "lists": ["bench"],
            "caller_id": {"number": "+12125550100"},
            "pacing": {"max_channels": channels, "cps": cps},
            "schedule": {"window": "08:00-21:00"},
            "ring_timeout": 30,
            "max_duration": 300,
        }
    )
    settings = Settings(fs_nodes="fs1=esl://:ClueCon@127.0.0.1:8021?max_channels=100000&sps=100000")
    info = create_campaign(engine, config, settings=settings, clock=FrozenClock(START))
    run = EmbeddedRun(
        engine,
        settings,
        RunOptions(
            campaigns=(info.id,),
            until_done=True,
            simulate=str(scenario),
            time_scale=1.0,
            start_at=START,
            pool_size=max(200, channels),
            sessions_per_second=100_000,
            max_sessions=100_000,
            timeout=calls / min(cps, channels / (ring + talk)) * 3 + 60,
        ),
    )
    report = run.run()
    assert report.campaigns == {info.id: "completed"}, report
    assert run.simulator is not None
    facts = list(run.simulator.facts.facts)
    duplicates = run.simulator.facts.duplicates_by_attempt()
    assert not duplicates, f"duplicate originates: {duplicates}"
    engine.dispose()
    return facts


def main() -> None:
    args = fill_arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "fill"
        work.mkdir()
        facts = run_once(
            work, calls=args.fill_calls, channels=args.channels, cps=1000.0,
            ring=args.ring, talk=args.talk,
        )  # fmt: skip
        print_fill(facts, args, "embedded")
        work = Path(tmp) / "pacing"
        work.mkdir()
        facts = run_once(
            work, calls=args.pacing_calls, channels=100_000, cps=args.cps,
            ring=args.ring, talk=args.talk,
        )  # fmt: skip
        print_pacing(facts, args, "embedded")

if __name__ == "__main__":
    main()
