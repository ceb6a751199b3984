"""Every path of the call flow, end to end: a CSV list, a press-1 campaign from YAML, ``dialer
run --simulate`` (scheduler, originate worker, simulator over TCP, consumer, one process) with
a scenario that forces each number down one path; the stored attempt says what happened.

One number per path, so a wrong outcome names its path. The simulator runs the same flow
variables the shipped Lua flow reads (tests/freeswitch keeps the two in step).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from dialer.call_detail import DETAIL_SCHEMA, call_detail
from dialer.db.engine import make_engine
from dialer.db.models import CallAttempt, DncNumber
from dialer.lifecycle import (
    AGENT_ANSWERED,
    AMD_RESULT,
    ANSWERED,
    CALL_INITIATED,
    COMPLETED,
    IVR_COMPLETED,
    QUEUE_JOINED,
)
from dialer.webhooks.events import event_id
from dialer.webhooks.schemas import shipped_schema
from tests.webhooks.receiver import Receiver

START = "2026-06-02T11:00:00-04:00"  # a Tuesday, inside every window


@dataclass(frozen=True)
class Route:
    number: str
    plan: dict[str, Any]
    outcome: str
    amd: str | None = "human"
    ivr: str | None = None
    queue: str | None = None


HUMAN = {"outcome": "answer", "ring": 1.0, "machine": False, "amd_seconds": 1.4}
PATHS = {
    "press1_agent": Route(
        "+12125550101",
        # an agent 0.3 s after the join: well inside the 2 s that make a call abandoned, even
        # when a loaded machine runs the scaled clock late
        {**HUMAN, "digit": "1", "digit_after": 1.0, "agent": True, "queue_wait": 0.3,
         "talk": 20.0},
        "agent_answered", ivr="digit_pressed", queue="answered",
    ),
    "no_input": Route(
        "+12125550102", {**HUMAN, "digit": None}, "ivr_timeout", ivr="timeout"
    ),
    "ivr_hangup": Route(
        # AMD ends 1.4 s after the answer, the first try's prompt and timeout 6 s later: a
        # hangup at 5 s is well inside the IVR even when a loaded machine runs the scaled
        # clock late (at 3 s it once fell inside AMD: a human gone before the IVR)
        "+12125550103", {**HUMAN, "digit": None, "hangup_after": 5.0}, "ivr_hangup",
        ivr="caller_hangup",
    ),
    "machine_voicemail": Route(
        "+12125550104",
        # the beep 10 s after the decision: avmd starts listening before it even when a loaded
        # machine resumes the call late (a beep that began before avmd_start is missed)
        {"outcome": "answer", "ring": 1.0, "machine": True, "amd_cause": "MAXWORDS",
         "amd_seconds": 1.8, "beep": 12.0, "greeting": 14.0},
        "voicemail_left", amd="machine",
    ),
    "amd_undecided": Route(
        "+12125550105",
        {**HUMAN, "amd_seconds": 9.0, "digit": "1", "digit_after": 1.0, "agent": True,
         "queue_wait": 1.0, "talk": 10.0},
        "agent_answered", amd="unknown_assumed_human", ivr="digit_pressed", queue="answered",
    ),
    "queue_timeout": Route(
        "+12125550106", {**HUMAN, "digit": "1", "digit_after": 1.0, "agent": False},
        "queue_timeout", ivr="digit_pressed", queue="timeout",
    ),
    "queue_hangup": Route(
        "+12125550107",
        {**HUMAN, "digit": "1", "digit_after": 1.0, "agent": True, "queue_wait": 60.0,
         "hangup_after": 20.0},
        "queue_hangup", ivr="digit_pressed", queue="caller_hangup",
    ),
    "invalid_then_valid": Route(
        "+12125550111",
        {**HUMAN, "digit": "51", "digit_after": 1.0, "agent": True, "queue_wait": 1.0,
         "talk": 10.0},
        "agent_answered", ivr="digit_pressed", queue="answered",
    ),
    "only_invalid": Route(
        "+12125550112", {**HUMAN, "digit": "55", "digit_after": 1.0}, "ivr_timeout",
        ivr="invalid",
    ),
    "opt_out": Route(
        "+12125550108", {**HUMAN, "digit": "9", "digit_after": 1.0}, "opted_out",
        ivr="digit_pressed",
    ),
    "extension": Route(
        "+12125550109", {**HUMAN, "digit": "2", "digit_after": 1.0, "talk": 10.0},
        "transferred", ivr="digit_pressed",
    ),
    "ai_agent": Route(
        "+12125550110", {**HUMAN, "digit": "3", "digit_after": 1.0, "talk": 10.0},
        "ai_completed", ivr="digit_pressed",
    ),
}

CAMPAIGN: dict[str, Any] = {
    "name": "Every path",
    "type": "press1",
    "lists": ["Paths"],
    "caller_id": {"number": "+12125550100"},
    "pacing": {"max_channels": 20, "cps": 10},
    "schedule": {"window": "08:00-21:00"},
    "ring_timeout": 20,
    "max_duration": 600,
    "retries": {},
    "amd": {"enabled": True, "on_machine": "voicemail", "voicemail_message": "vm.wav"},
    "message": "offer.wav",
    "ivr": {
        "digits": "1239",
        "tries": 2,
        "timeout": 3,
        "actions": {
            "1": {"queue": "sales"},
            "2": {"extension": "2000@default"},
            "3": {"ai_agent": "bot"},
            "9": "opt_out",
        },
    },
    "queues": {"sales": {"name": "Press 1 Agents", "target": "sales@default", "max_wait": 30}},
    "agents": {"bot": {"dial": "sofia/gateway/ai/bot", "fields": ["first_name"]}},
    "recording": {"enabled": True},
}


def _run(
    tmp_path: Path,
    campaign: dict[str, Any],
    paths: dict[str, Route],
    *,
    webhook_url: str | None = None,
) -> str:
    url = f"sqlite:///{tmp_path / 'dialer.sqlite3'}"
    env = {**os.environ, "DIALER_DATABASE_URL": url, "DIALER_DATA_DIR": str(tmp_path)}
    env.pop("DIALER_REDIS_URL", None)
    rows = "".join(f"{p.number},{name}\n" for name, p in paths.items())
    (tmp_path / "paths.csv").write_text("Phone,First Name\n" + rows, encoding="utf-8")
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(campaign), encoding="utf-8")
    scenario = {"name": "paths", "numbers": {p.number: p.plan for p in paths.values()}}
    (tmp_path / "paths.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")

    dialer = _cli(tmp_path, env)
    dialer("lists", "import", "paths.csv", "--name", "Paths")
    dialer("campaigns", "create", "campaign.yaml")
    if webhook_url is not None:
        added = json.loads(dialer("webhooks", "add", webhook_url, "--json").stdout)
        (tmp_path / "secret").write_text(added["secret"], encoding="utf-8")
    done = dialer(
        "run", "1", "--simulate", str(tmp_path / "paths.yaml"), "--time-scale", "0.01",
        "--start-at", START, "--until-done", "--timeout", "150", "--seed", "3", "--json",
        "--quiet", timeout=200,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["campaigns"] == {"1": "completed"}
    assert report["switch"]["duplicate_originates"] == 0
    assert report["switch"]["originates"] == len(paths)
    return url


def _cli(tmp_path: Path, env: dict[str, str]) -> Any:
    def dialer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "dialer", *args], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
        return done

    return dialer


def _attempts(url: str) -> dict[str, CallAttempt]:
    engine = make_engine(url)
    with Session(engine) as s:
        rows = s.scalars(sa.select(CallAttempt)).all()
        for row in rows:
            s.expunge(row)
    engine.dispose()
    return {row.to_number: row for row in rows}


#: The webhook events of each path, in the order they reach the receiver.
_START = [CALL_INITIATED, ANSWERED, AMD_RESULT]
_IVR = [*_START, IVR_COMPLETED]
_QUEUE = [*_IVR, QUEUE_JOINED]
EVENTS = {
    "press1_agent": [*_QUEUE, AGENT_ANSWERED, COMPLETED],
    "no_input": [*_IVR, COMPLETED],
    "ivr_hangup": [*_IVR, COMPLETED],
    "machine_voicemail": [*_START, COMPLETED],
    "amd_undecided": [*_QUEUE, AGENT_ANSWERED, COMPLETED],
    "queue_timeout": [*_QUEUE, COMPLETED],
    "queue_hangup": [*_QUEUE, COMPLETED],
    "invalid_then_valid": [*_QUEUE, AGENT_ANSWERED, COMPLETED],
    "only_invalid": [*_IVR, COMPLETED],
    "opt_out": [*_IVR, COMPLETED],
    "extension": [*_IVR, COMPLETED],
    "ai_agent": [*_IVR, COMPLETED],
}


@pytest.mark.slow
def test_every_path_of_the_press1_flow_ends_with_its_outcome(tmp_path: Path) -> None:
    """… and its webhooks: each event signed, valid against its shipped schema, in the
    contract's order, the stages the path reached and no other, one campaign.completed."""
    with Receiver().running() as receiver:
        url = _run(tmp_path, CAMPAIGN, PATHS, webhook_url=receiver.url)
        received = list(receiver.received)
    secret = (tmp_path / "secret").read_text(encoding="utf-8")
    attempts = _attempts(url)
    numbers = {str(attempts[p.number].id): name for name, p in PATHS.items()}
    events: dict[str, list[str]] = {name: [] for name in PATHS}
    for got in received:
        payload = got.verified(secret)
        jsonschema.validate(payload, shipped_schema(payload["event"]))
        assert got.webhook_id == event_id(payload["data"]["callUuid"], payload["event"])
        events[numbers[payload["data"]["callUuid"]]].append(payload["event"])
    assert events == EVENTS
    assert all(r.status == 200 for r in received)
    got = {name: attempts[p.number].outcome for name, p in PATHS.items()}
    assert got == {name: p.outcome for name, p in PATHS.items()}
    for name, p in PATHS.items():
        row = attempts[p.number]
        assert row.state == "ended", name
        assert row.amd_enabled, name
        assert row.amd_result == p.amd, name
        assert row.ivr_result == p.ivr, name
        assert row.queue_result == p.queue, name
    agent = attempts[PATHS["press1_agent"].number]
    assert agent.queue_name == "sales@default"
    assert agent.agent_id
    assert agent.queue_wait_seconds is not None
    assert agent.handoff_type == "queue"
    assert agent.ivr_digit == "1"
    assert agent.abandoned is False  # an agent within 2 s of the prompt's end
    assert attempts[PATHS["invalid_then_valid"].number].ivr_attempts == 2
    assert attempts[PATHS["only_invalid"].number].ivr_attempts == 2  # the campaign's tries
    assert attempts[PATHS["no_input"].number].ivr_attempts == 2
    timed_out = attempts[PATHS["queue_timeout"].number]
    assert timed_out.abandoned is True  # a human nobody took: counts against the 3 %
    assert attempts[PATHS["extension"].number].handoff_type == "extension"
    assert attempts[PATHS["ai_agent"].number].handoff_type == "ai_agent"
    assert attempts[PATHS["machine_voicemail"].number].amd_duration_ms
    # recorded from the answer to the hangup, at the flow's path for the call
    assert agent.recording_enabled
    assert agent.recording_url == f"dialer/1/{agent.id}.wav"
    assert agent.recording_duration_sec is not None
    assert agent.billsec is not None
    assert abs(agent.recording_duration_sec - agent.billsec) <= 1
    engine = make_engine(url)
    with Session(engine) as s:
        dnc = s.get(DncNumber, PATHS["opt_out"].number)
        assert dnc is not None
        assert dnc.source == "opt_out"
        others = s.scalar(sa.select(sa.func.count()).select_from(DncNumber))
        assert others == 1  # nobody else was put on the list
    engine.dispose()
    _check_details(tmp_path, url)


@pytest.mark.slow
def test_a_machine_is_hung_up_on_when_the_campaign_says_so(tmp_path: Path) -> None:
    paths = {
        "machine": Route(
            "+12125550121",
            # the beep 20 s in: a call hung up at the decision is told from one that waited
            # for it even when a loaded machine runs the scaled clock late
            {"outcome": "answer", "ring": 1.0, "machine": True, "amd_cause": "MAXWORDS",
             "amd_seconds": 1.8, "beep": 20.0},
            "amd_machine", amd="machine",
        ),
        "human": PATHS["press1_agent"],
    }
    campaign = {**CAMPAIGN, "amd": {"enabled": True, "on_machine": "hangup"},
                "recording": {"enabled": False}}
    attempts = _attempts(_run(tmp_path, campaign, paths))
    machine = attempts[paths["machine"].number]
    assert machine.outcome == "amd_machine"
    assert machine.amd_result == "machine"
    assert machine.ivr_result is None  # a machine never hears the IVR
    assert machine.billsec is not None
    assert machine.billsec < 12  # hung up at the decision (1.8 s), not at the beep (20 s)
    assert not machine.recording_enabled  # this campaign records nothing
    assert machine.recording_url is None
    assert attempts[paths["human"].number].outcome == "agent_answered"


def _check_details(tmp_path: Path, url: str) -> None:
    """``call_detail`` (and ``dialer calls show --json``) of every path: valid against the
    shipped JSON Schema, the seed's fields filled from what the flow recorded (on the run of
    the test above: one run serves both)."""
    attempts = _attempts(url)
    engine = make_engine(url)
    details = {
        name: call_detail(engine, attempts[p.number].id, recordings_url="https://rec.example/{node}/")
        for name, p in PATHS.items()
    }
    engine.dispose()
    for name, detail in details.items():
        jsonschema.validate(detail, DETAIL_SCHEMA)
        assert detail["outcome"] == PATHS[name].outcome, name
        assert detail["status"] == "completed", name
        assert detail["toNumber"] == PATHS[name].number
        assert detail["amd"]["enabled"] is True
        assert detail["amd"]["result"] == PATHS[name].amd
        assert detail["timing"]["startedAt"] is not None
        assert detail["timing"]["totalDurationSec"] is not None
    agent = details["press1_agent"]
    assert agent["campaignId"] == "1"
    assert agent["recipientId"] is not None
    assert agent["ivr"] == {"menuName": "Every path", "digitPressed": "1", "attempts": 1,
                            "result": "digit_pressed"}  # fmt: skip
    queue = agent["queue"]
    assert (queue["entered"], queue["queueName"], queue["queueId"], queue["result"]) == (
        True, "Press 1 Agents", "sales@default", "answered"
    )
    assert queue["answeredBy"]
    assert queue["talkSeconds"] is not None
    assert agent["disposition"] == "transferred"
    assert agent["recording"]["url"] == (
        f"https://rec.example/fs1/dialer/1/{agent['callUuid']}.wav"
    )
    assert "ai" not in agent
    bot = details["ai_agent"]
    assert bot["ai"]["agentId"] == "bot"  # the registry's name, not the dial string
    assert details["no_input"]["queue"]["entered"] is False
    assert details["invalid_then_valid"]["ivr"]["attempts"] == 2

    env = {**os.environ, "DIALER_DATABASE_URL": url, "DIALER_DATA_DIR": str(tmp_path)}
    env.pop("DIALER_REDIS_URL", None)
    env["DIALER_RECORDINGS_URL"] = "https://rec.example/{node}/"
    dialer = _cli(tmp_path, env)
    shown = json.loads(dialer("calls", "show", agent["callUuid"], "--json").stdout)
    assert shown == agent
    text = dialer("calls", "show", agent["callUuid"]).stdout
    assert "agent_answered" in text
    assert "Press 1 Agents" in text
    missing = subprocess.run(
        [sys.executable, "-m", "dialer", "calls", "show", "not-a-uuid"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "not a call uuid" in missing.stderr
    assert "Traceback" not in missing.stderr
