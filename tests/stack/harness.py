"""The distributed stack under test: real processes, one PostgreSQL database, one Redis db.

:class:`Stack` starts, with the same ``DIALER_*`` environment,

* the simulator (``python -m dialer simulator``) writing its ledger, the ground truth;
* N originate workers (``celery -A workers worker -P gevent -Q originate``);
* one worker for the ``scheduler`` queue (the tick and the sweeper);
* beat (``celery -A workers beat``; redbeat, since ``DIALER_REDIS_URL`` is set);
* the event consumer (``python -m dialer consumer --node fs1``).

Each process logs to a file under the test's tmp directory; :meth:`Stack.tails` prints the
last lines of every log, and leaving the ``with`` block on an exception prints them. Every
process is its own process group and gets SIGKILL when the test process dies
(``PR_SET_PDEATHSIG``), so none is ever left behind.

The ledger helpers below judge limits and duplicates from the switch's own record, never
from ours.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
import yaml
from sqlalchemy import Engine

from dialer.campaigns.model import parse_config
from dialer.campaigns.service import create_campaign, start_campaign
from dialer.config import Settings
from dialer.db.models import (
    FINAL_RECIPIENT_STATUSES,
    Base,
    CallAttempt,
    Campaign,
    CampaignRecipient,
)
from dialer.leases import RedisLeases
from dialer.lists import ImportOptions, import_list

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
REDIS_BASE = os.environ.get("DIALER_TEST_STACK_REDIS", "redis://127.0.0.1:6379")
#: Redis db numbers a stack may take (tests/conftest.py uses 15); one stack per db at a time,
#: held by a file lock, so two test runs on one machine never share queues or leases.
REDIS_DBS = (9, 10, 11, 12, 13, 14)
NODE = "fs1"
CALLER_ID = "+12125550100"

# -- numbers whose calling window is open now ------------------------------------------------

_NANP_NY = ("212", "646", "718", "917", "347")
_NANP_LA = ("213", "310", "323", "424", "818")


def _nanp(codes: Sequence[str]) -> Callable[[int], str]:
    # 555-0100..0199 is the fictional range of every NANP area code
    return lambda i: f"+1{codes[i // 100]}55501{i % 100:02d}"


@dataclass(frozen=True)
class Zone:
    name: str
    size: int
    number: Callable[[int], str]


ZONES = (
    # Ofcom's drama numbers: 020 7946 0000-0999
    Zone("Europe/London", 1000, lambda i: f"+442079460{i:03d}"),
    # ACMA's fictional Sydney range: 02 5550 0000-9999
    Zone("Australia/Sydney", 10_000, lambda i: f"+6125550{i:04d}"),
    Zone("America/New_York", 100 * len(_NANP_NY), _nanp(_NANP_NY)),
    Zone("America/Los_Angeles", 100 * len(_NANP_LA), _nanp(_NANP_LA)),
)


def open_zone(now: datetime | None = None, *, needed: int = 0) -> Zone:
    """The zone whose local time is furthest inside 09:00-20:00 now (a campaign window of
    08:00-21:00 then stays open for at least an hour, whatever the hour the test runs)."""
    now = now or datetime.now(UTC)
    best: tuple[float, Zone] | None = None
    for zone in ZONES:
        if zone.size < needed:
            continue
        local = now.astimezone(ZoneInfo(zone.name))
        hour = local.hour + local.minute / 60
        margin = min(hour - 9, 20 - hour)
        if margin >= 0 and (best is None or margin > best[0]):
            best = (margin, zone)
    if best is None:  # pragma: no cover - the zones cover every hour of the day
        raise RuntimeError(f"no zone of {[z.name for z in ZONES]} is open at {now}")
    return best[1]


def make_list(
    engine: Engine, tmp: Path, name: str, count: int, *, start: int = 0, zone: Zone | None = None
) -> list[str]:
    """Import ``count`` numbers of an open zone as list ``name``; returns the numbers."""
    zone = zone or open_zone(needed=start + count)
    numbers = [zone.number(i) for i in range(start, start + count)]
    path = tmp / f"{name}.csv"
    path.write_text("phone\n" + "\n".join(numbers) + "\n", encoding="utf-8")
    result = import_list(engine, path, ImportOptions(name=name))
    assert result.accepted == count, result.as_json()
    return numbers


def make_campaign(
    engine: Engine,
    settings: Settings,
    *,
    name: str,
    lists: Sequence[str],
    max_channels: int,
    cps: float,
    trunk: str = "default",
    ring_timeout: int = 10,
    max_duration: int = 60,
    retries: dict[str, Any] | None = None,
) -> int:
    """Create and start a broadcast campaign whose window is open now; returns its id."""
    config = parse_config(
        {
            "name": name,
            "type": "broadcast",
            "lists": list(lists),
            "caller_id": {"number": CALLER_ID, "name": "Stack test"},
            "trunk": trunk,
            "pacing": {"max_channels": max_channels, "cps": float(cps)},
            "schedule": {"window": "08:00-21:00"},
            "ring_timeout": ring_timeout,
            "max_duration": max_duration,
            "retries": retries or {},
        }
    )
    info = create_campaign(engine, config, settings=settings)
    started = start_campaign(engine, info.id)
    assert started.campaign.status == "running", started.as_json()
    return info.id


def truncate_all(engine: Engine) -> None:
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


# -- the ledger ------------------------------------------------------------------------------


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """The simulator's JSON lines (a last line still being written is left out)."""
    facts: list[dict[str, Any]] = []
    if not path.exists():
        return facts
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            facts.append(json.loads(line))
    return facts


def originates(
    facts: Iterable[dict[str, Any]], campaign: int | None = None
) -> list[dict[str, Any]]:
    """Every originate the switch received (refused ones too), optionally of one campaign."""
    return [
        f
        for f in facts
        if f["event"] == "originate" and (campaign is None or f.get("campaign_id") == str(campaign))
    ]


def duplicate_originates(facts: Iterable[dict[str, Any]]) -> dict[str, int]:
    """attempt id → originates received for it, where more than one."""
    counts = Counter(f["attempt_id"] for f in originates(facts))
    return {k: n for k, n in counts.items() if n > 1}


def concurrency(
    facts: Iterable[dict[str, Any]], campaigns: Iterable[int]
) -> list[tuple[float, int]]:
    """(t, live channels of these campaigns together) after each fact that changed it, in
    time order: a channel is live from its (not refused) originate until its hangup."""
    wanted = {str(c) for c in campaigns}
    ordered = sorted(
        (f for f in facts if f.get("campaign_id") in wanted), key=lambda f: float(f["t"])
    )
    live, series = 0, []
    for fact in ordered:
        if fact["event"] == "originate" and not fact.get("refused"):
            live += 1
        elif fact["event"] == "hangup":
            live -= 1
        else:
            continue
        series.append((float(fact["t"]), live))
    return series


def peak(facts: Iterable[dict[str, Any]], campaigns: Iterable[int]) -> int:
    return max((live for _, live in concurrency(facts, campaigns)), default=0)


def calls(facts: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """attempt id → what the switch says of its call: ``answered`` (bool), ``refused``
    (bool), ``cause`` (of its hangup or refusal, None while it is up)."""
    out: dict[str, dict[str, Any]] = {}
    for fact in facts:
        if fact["event"] not in ("originate", "answer", "hangup"):
            continue
        call = out.setdefault(
            fact["attempt_id"], {"answered": False, "refused": False, "cause": None}
        )
        if fact["event"] == "originate" and fact.get("refused"):
            call.update(refused=True, cause=fact.get("cause"))
        elif fact["event"] == "answer":
            call["answered"] = True
        elif fact["event"] == "hangup":
            call["cause"] = fact.get("cause")
    return out


def steady_rate(facts: Iterable[dict[str, Any]], campaign: int, trim: float = 0.2) -> float:
    """Originates per (real) second of one campaign over the middle of its run: the first
    and last ``trim`` of its originates are left out (the bucket's burst, the tail)."""
    times = sorted(float(f["t"]) for f in originates(facts, campaign))
    cut = int(len(times) * trim)
    middle = times[cut : len(times) - cut]
    if len(middle) < 2 or middle[-1] <= middle[0]:
        return 0.0
    return (len(middle) - 1) / (middle[-1] - middle[0])


# -- the records -----------------------------------------------------------------------------


def campaign_summary(engine: Engine, campaign_id: int) -> dict[str, Any]:
    """Status, recipients by status, attempts by state and outcome: for failure messages."""
    with engine.connect() as conn:
        status = conn.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))
        recipients = dict(
            conn.execute(
                sa.select(CampaignRecipient.status, sa.func.count())
                .where(CampaignRecipient.campaign_id == campaign_id)
                .group_by(CampaignRecipient.status)
            ).all()
        )
        attempts = {
            f"{state}/{outcome}": n
            for state, outcome, n in conn.execute(
                sa.select(CallAttempt.state, CallAttempt.outcome, sa.func.count())
                .where(CallAttempt.campaign_id == campaign_id)
                .group_by(CallAttempt.state, CallAttempt.outcome)
            ).all()
        }
    return {"status": status, "recipients": recipients, "attempts": attempts}


def dump_attempts(engine: Engine, campaign_id: int, path: Path) -> list[dict[str, Any]]:
    """Every attempt of the campaign with its timings, oldest first, also written to
    ``path`` as JSON (kept with the logs, to read after a run)."""
    columns = [
        CallAttempt.id, CallAttempt.campaign_recipient_id, CallAttempt.attempt_no,
        CallAttempt.state, CallAttempt.outcome, CallAttempt.hangup_cause, CallAttempt.error,
        CallAttempt.claimed_by, CallAttempt.created_at, CallAttempt.dispatched_at,
        CallAttempt.originate_sent_at, CallAttempt.answered_at, CallAttempt.ended_at,
        CallAttempt.state_changed_at,
    ]  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(*columns)
            .where(CallAttempt.campaign_id == campaign_id)
            .order_by(CallAttempt.created_at)
        ).all()
    out = [
        {k: (v.isoformat() if isinstance(v, datetime) else v if v is None or isinstance(v, int)
             else str(v)) for k, v in row._mapping.items()}
        for row in rows
    ]  # fmt: skip
    path.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


def slowest_retries(attempts: list[dict[str, Any]], top: int = 5) -> list[dict[str, Any]]:
    """Recipients that waited longest between one attempt's end and the next's creation."""
    by_recipient: dict[Any, list[dict[str, Any]]] = {}
    for attempt in attempts:
        by_recipient.setdefault(attempt["campaign_recipient_id"], []).append(attempt)
    waits = []
    for tries in by_recipient.values():
        tries.sort(key=lambda a: a["attempt_no"])
        for before, after in itertools.pairwise(tries):
            if before["ended_at"] and after["created_at"]:
                gap = (
                    datetime.fromisoformat(after["created_at"])
                    - datetime.fromisoformat(before["ended_at"])
                ).total_seconds()
                waits.append({"wait": round(gap, 1), "before": before, "after": after["id"]})
    return sorted(waits, key=lambda w: -w["wait"])[:top]


def ended_in_the_future(engine: Engine, campaign_id: int, slack: float = 2.0) -> list[str]:
    """Attempts whose recorded end lies after now: the switch's clock and ours disagree."""
    limit = datetime.now(UTC).timestamp() + slack
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(CallAttempt.id, CallAttempt.ended_at).where(
                CallAttempt.campaign_id == campaign_id, CallAttempt.ended_at.is_not(None)
            )
        ).all()
    return [str(row.id) for row in rows if row.ended_at.timestamp() > limit]


def wait_campaign(
    engine: Engine,
    campaign_id: int,
    timeout: float,
    *,
    poll: float = 0.5,
    on_poll: Callable[[], object] | None = None,
) -> float:
    """Wait until the campaign is completed; returns the seconds it took. Fails with what
    the records say if it is not within ``timeout`` seconds. ``on_poll`` runs at every
    look (e.g. :meth:`Stack.revive`)."""
    started = time.monotonic()
    while True:
        if on_poll is not None:
            on_poll()
        with engine.connect() as conn:
            status = conn.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))
        if status == "completed":
            return time.monotonic() - started
        if status == "cancelled" or time.monotonic() - started > timeout:
            raise AssertionError(
                f"campaign {campaign_id} not completed after {timeout:.0f} s: "
                f"{campaign_summary(engine, campaign_id)}"
            )
        time.sleep(poll)


def not_final(engine: Engine, campaign_id: int) -> dict[str, int]:
    """Recipients of the campaign that are not in a final status, by status."""
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(CampaignRecipient.status, sa.func.count())
                .where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.status.not_in(FINAL_RECIPIENT_STATUSES),
                )
                .group_by(CampaignRecipient.status)
            ).all()
        )


# -- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # PR_SET_PDEATHSIG = 1: SIGKILL this process when the test process dies
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    #: A log line that says the process is ready ("" = do not wait).
    ready: str = ""
    popen: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    starts: int = 0
    #: Log offset at the last start (readiness is looked for after it).
    offset: int = 0
    #: Stopped or killed by the harness (not a crash of its own).
    stopped: bool = False

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid


@dataclass(repr=False)
class Stack:
    """The stack for one test; ``with Stack(...) as stack:`` starts it and always stops it."""

    tmp: Path
    database_url: str
    scenario: dict[str, Any] | str = "all-answer"
    #: Keep 1.0: the distributed dialer runs on the real clock, and the consumer stores the
    #: switch's own event times (answered_at, ended_at, from which retries are scheduled).
    #: A scaled simulator stamps its events in fast-running simulated time: at 0.1 the
    #: records ended up to 20 minutes in the future and a 1 s busy retry waited 158 s.
    #: Scenarios give their durations in real seconds instead.
    time_scale: float = 1.0
    originate_workers: int = 4
    concurrency: int = 50
    trunks: str | None = None
    consumer: bool = True
    #: a worker on the ``webhooks`` queue (``hooks``), delivering the outbox
    webhooks: bool = False
    node_max_channels: int = 5000
    node_sps: int = 1000
    #: The simulator's own limits (a node's max-sessions and sessions-per-second).
    sim_sps: int = 1000
    sim_max_sessions: int = 5000
    extra_env: dict[str, str] = field(default_factory=dict)

    procs: dict[str, Proc] = field(default_factory=dict, init=False)
    #: (name, wall time, exit code) of every process :meth:`revive` started again.
    revived: list[tuple[str, str, int | None]] = field(default_factory=list, init=False)
    redis_db: int = field(default=-1, init=False)
    sim_port: int = field(default=0, init=False)
    _db_lock: IO[str] | None = field(default=None, init=False)
    _env: dict[str, str] = field(default_factory=dict, init=False)

    def __repr__(self) -> str:  # never the environment: it is the test process's own
        running = [p.name for p in self.procs.values() if p.alive]
        return f"Stack(redis db {self.redis_db}, simulator :{self.sim_port}, running {running})"

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.print_tails()
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.print_tails()
        self.stop()

    @property
    def redis_url(self) -> str:
        return f"{REDIS_BASE}/{self.redis_db}"

    @property
    def ledger_path(self) -> Path:
        return self.tmp / "ledger.jsonl"

    @property
    def settings(self) -> Settings:
        """The stack's settings, as each of its processes reads them."""
        return Settings(
            database_url=self.database_url,
            redis_url=self.redis_url,
            fs_nodes=self._env["DIALER_FS_NODES"],
            trunks_json=self.trunks,
        )

    def start(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._take_redis_db()
        self.flush_redis()
        self.sim_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        env.update(
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            DIALER_DATABASE_URL=self.database_url,
            DIALER_REDIS_URL=self.redis_url,
            DIALER_DATA_DIR=str(self.tmp / "data"),
            DIALER_FS_NODES=(
                f"{NODE}=esl://:ClueCon@127.0.0.1:{self.sim_port}"
                f"?max_channels={self.node_max_channels}&sps={self.node_sps}"
            ),
            DIALER_LOG_LEVEL="INFO",
        )
        if self.trunks is not None:
            env["DIALER_TRUNKS"] = self.trunks
        env.update(self.extra_env)
        self._env = env

        scenario = self.scenario
        if isinstance(scenario, dict):
            path = self.tmp / "scenario.yaml"
            path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
            scenario = str(path)
        self._add(
            "simulator",
            [sys.executable, "-m", "dialer", "simulator",
             "--listen", f"127.0.0.1:{self.sim_port}", "--scenario", scenario,
             "--time-scale", str(self.time_scale), "--ledger", str(self.ledger_path),
             "--sessions-per-second", str(self.sim_sps),
             "--max-sessions", str(self.sim_max_sessions), "--seed", "1"],
        )  # fmt: skip
        self._spawn("simulator")
        self._wait_port(self.sim_port, "simulator")
        if self.consumer:
            self._add("consumer", [sys.executable, "-m", "dialer", "consumer", "--node", NODE])
            self._spawn("consumer")
        for i in range(1, self.originate_workers + 1):
            self._add_worker(f"w{i}", "originate", self.concurrency)
        self._add_worker("scheduler", "scheduler", 10)
        if self.webhooks:
            self._add_worker("hooks", "webhooks", 20)
        for proc in self.procs.values():
            if proc.name.startswith("w") or proc.name in ("scheduler", "hooks"):
                self._spawn(proc.name)
        for proc in self.procs.values():
            self._wait_ready(proc)
        self._add(
            "beat",
            [CELERY, "-A", "workers", "beat", "-l", "INFO",
             "-s", str(self.tmp / "beat-schedule"), "--pidfile", str(self.tmp / "beat.pid")],
        )  # fmt: skip
        self._spawn("beat")
        if self.consumer:
            time.sleep(0.5)
            if not self.procs["consumer"].alive:
                raise RuntimeError("the consumer exited at start (see its log)")

    def stop(self) -> None:
        """SIGTERM every process (beat first, the simulator last), SIGKILL what remains."""
        order = ["beat", "scheduler", "hooks"]
        order += [n for n in self.procs if n.startswith("w")]
        order += ["consumer", "simulator"]
        for name in order:
            if name in self.procs and self.procs[name].alive:
                self.procs[name].stopped = True
                self._signal(self.procs[name], signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name in order:
            proc = self.procs.get(name)
            if proc is None or proc.popen is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            self._signal(proc, signal.SIGKILL)  # its group: whatever it started goes too
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)
            if proc.log is not None:
                proc.log.close()
                proc.log = None
        if self._db_lock is not None:
            self._db_lock.close()
            self._db_lock = None

    # -- what tests do to it ------------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process (and its group); for SIGKILL, wait until it is gone."""
        proc = self.procs[name]
        self._note(proc, f"--- harness: signal {signal.Signals(sig).name} ---")
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            proc.stopped = True
        self._signal(proc, sig)
        if sig == signal.SIGKILL and proc.popen is not None:
            proc.popen.wait(10)

    def restart(self, name: str, *, wait_ready: bool = True) -> None:
        """Stop the process if it still runs (SIGTERM, then SIGKILL), start it again."""
        proc = self.procs[name]
        if proc.alive and proc.popen is not None:
            proc.stopped = True
            self._signal(proc, signal.SIGTERM)
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.popen.wait(5)
        self._spawn(name)
        if wait_ready:
            self._wait_ready(proc)

    def flush_redis(self) -> None:
        """FLUSHDB the stack's Redis db: queues, leases, locks and redbeat keys are gone."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushdb()
        finally:
            client.close()

    def leases(self) -> dict[str, list[str]]:
        """Leases held now (live members of ``dialer:leases`` scopes)."""
        backend = RedisLeases.from_url(self.redis_url)
        return backend.leases(time.time())

    def ledger(self) -> list[dict[str, Any]]:
        return read_ledger(self.ledger_path)

    def worker_names(self) -> list[str]:
        return [n for n in self.procs if n.startswith("w")]

    def dead(self) -> list[str]:
        """Processes that exited although the harness did not stop them."""
        return [
            p.name
            for p in self.procs.values()
            if p.popen is not None and not p.alive and not p.stopped
        ]

    def revive(self) -> list[str]:
        """What a supervisor with a restart policy does: start again every process that
        exited on its own. Returns their names; :attr:`revived` keeps them all."""
        names = self.dead()
        for name in names:
            proc = self.procs[name]
            code = proc.popen.returncode if proc.popen is not None else None
            self.revived.append((name, datetime.now(UTC).strftime("%H:%M:%S"), code))
            self._note(proc, f"--- harness: exited with {code}; started again ---")
            self._spawn(name)
        return names

    def ready(self, name: str) -> bool:
        """The process runs and has said it is ready since its last start."""
        proc = self.procs[name]
        if not proc.alive:
            return False
        if not proc.ready:
            return True
        with open(proc.log_path, "rb") as handle:
            handle.seek(proc.offset)
            return proc.ready.encode() in handle.read()

    def tails(self, lines: int = 40) -> str:
        out = []
        for proc in self.procs.values():
            text = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
            state = "running" if proc.alive else f"exited {proc.popen and proc.popen.returncode}"
            out.append(f"===== {proc.name} ({state}, pid {proc.pid}): {proc.log_path} =====")
            out.extend(text.splitlines()[-lines:])
        return "\n".join(out)

    def print_tails(self, lines: int = 40) -> None:
        print(self.tails(lines), file=sys.stderr)

    def grep(self, name: str, text: str) -> list[str]:
        """Lines of a process's log that contain ``text``."""
        proc = self.procs[name]
        if not proc.log_path.exists():
            return []
        return [line for line in proc.log_path.read_text(errors="replace").splitlines()
                if text in line]  # fmt: skip

    # -- internals ----------------------------------------------------------------------------

    def _take_redis_db(self) -> None:
        for db in REDIS_DBS:
            handle = open(f"/tmp/dialer-stack-redis-{db}.lock", "w")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self.redis_db, self._db_lock = db, handle
            return
        raise RuntimeError(f"every Redis db of {REDIS_DBS} is taken by another stack")

    def _add(self, name: str, argv: list[str], ready: str = "") -> Proc:
        proc = Proc(name, argv, self.tmp / f"{name}.log", ready)
        self.procs[name] = proc
        return proc

    def _add_worker(self, name: str, queue: str, concurrency: int) -> None:
        self._add(
            name,
            [CELERY, "-A", "workers", "worker", "-P", "gevent", "-c", str(concurrency),
             "-Q", queue, "-n", f"{name}@%h", "--without-mingle", "--without-gossip",
             "-l", "INFO"],
            ready=" ready.",
        )  # fmt: skip

    def _spawn(self, name: str) -> None:
        proc = self.procs[name]
        if proc.log is None:
            proc.log = open(proc.log_path, "ab")  # noqa: SIM115
        proc.starts += 1
        proc.stopped = False
        self._note(proc, f"--- harness: start #{proc.starts}: {' '.join(proc.argv)} ---")
        proc.offset = proc.log_path.stat().st_size
        proc.popen = subprocess.Popen(
            proc.argv,
            cwd=self.tmp,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=proc.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _note(self, proc: Proc, text: str) -> None:
        if proc.log is not None:
            stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
            proc.log.write(f"{stamp} {text}\n".encode())
            proc.log.flush()

    def _signal(self, proc: Proc, sig: int) -> None:
        if proc.popen is None or proc.popen.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.popen.pid, sig)  # its own session: the group id is its pid

    def _wait_port(self, port: int, name: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.procs[name].alive:
                raise RuntimeError(f"{name} exited at start")
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{name} does not listen on {port} after {timeout} s")

    def _wait_ready(self, proc: Proc, timeout: float = 30.0) -> None:
        if not proc.ready:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready(proc.name):
                return
            if not proc.alive:
                raise RuntimeError(f"{proc.name} exited at start")
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} not ready after {timeout} s")


@contextlib.contextmanager
def timed(label: str, into: dict[str, float]) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        into[label] = round(time.monotonic() - started, 2)
