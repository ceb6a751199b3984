"""The shipped Lua flow run branch by branch outside FreeSWITCH (``lua_harness.lua`` stands in
for ``session`` and ``freeswitch``): the AMD methods and their decision time, the avmd-only
fallback, and the re-entry at the queue, with the same stage events as the simulator's model
(tests/simulator/test_flow_amd_transfer.py runs the model over TCP)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from dialer.flow import contract as c

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parents[1] / "freeswitch" / "scripts" / "dialer_flow.lua"
HARNESS = HERE / "lua_harness.lua"
LUA = shutil.which("lua5.4") or shutil.which("lua") or shutil.which("lua5.3")
pytestmark = pytest.mark.skipif(LUA is None, reason="no lua (apt-get install lua5.4)")

BOTH = ["mod_amd", "mod_avmd"]
AVMD_ONLY = ["mod_avmd"]


@dataclass
class Run:
    apps: list[tuple[str, str]]
    events: list[tuple[str, dict[str, str]]]
    variables: dict[str, str]

    def event(self, subclass: str) -> dict[str, str]:
        (found,) = [fields for name, fields in self.events if name == subclass]
        return found

    @property
    def stages(self) -> list[str]:
        return [name for name, _ in self.events]


def lua_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_value(k)}] = {lua_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "{" + ", ".join(lua_value(v) for v in value) + "}"
    raise TypeError(value)


def run(variables: dict[str, str], modules: list[str], **case: object) -> Run:
    spec = {"vars": {c.ATTEMPT_ID: "att-1", **variables}, "modules": modules, **case}
    assert LUA is not None
    done = subprocess.run(
        [LUA, str(HARNESS), str(SCRIPT), lua_value(spec)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    apps: list[tuple[str, str]] = []
    events: list[tuple[str, dict[str, str]]] = []
    final: dict[str, str] = {}
    for line in done.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "APP":
            name, _, data = rest.partition(" ")
            apps.append((name, data))
        elif kind == "EVENT":
            name, _, fields = rest.partition(" ")
            events.append((name, dict(f.split("=", 1) for f in fields.split("|") if f)))
        elif kind == "VARS":
            final = dict(f.split("=", 1) for f in rest.split("|") if f)
    return Run(apps, events, final)


HUMAN_AMD = {"ms": 1400, "result": "HUMAN", "cause": "HUMAN"}
MACHINE_AMD = {"ms": 1800, "result": "MACHINE", "cause": "MAXWORDS"}


def test_mod_amd_reports_its_decision_time_and_method() -> None:
    got = run({}, BOTH, amd=HUMAN_AMD, digit="1")
    amd = got.event("dialer::amd")
    assert list(amd) == ["dialer_attempt_id", "amd_result", "amd_cause", "amd_ms", "amd_method"]
    assert amd == {
        "dialer_attempt_id": "att-1",
        "amd_result": "HUMAN",
        "amd_cause": "HUMAN",
        "amd_ms": "1400",
        "amd_method": "amd",
    }
    assert [a for a, _ in got.apps][:2] == ["answer", "amd"]
    assert "avmd_start" not in [a for a, _ in got.apps]
    assert got.stages == ["dialer::amd", "dialer::ivr", "dialer::handoff"]
    assert got.event("dialer::handoff")["handoff_reason"] == "campaign"


def test_mod_amd_machine_waits_for_the_beep_before_the_voicemail() -> None:
    variables = {c.AMD_ON_MACHINE: "voicemail", c.VOICEMAIL_MESSAGE: "vm.wav"}
    got = run(variables, BOTH, amd=MACHINE_AMD, beep_ms=6420)
    assert [a for a, _ in got.apps] == ["answer", "amd", "avmd_start", "avmd_stop", "playback"]
    assert got.event("dialer::amd")["amd_ms"] == "1800"
    assert got.event("dialer::voicemail")["beep"] == "true"


def test_without_mod_amd_a_beep_within_the_window_is_a_machine() -> None:
    variables = {c.AMD_ON_MACHINE: "voicemail", c.VOICEMAIL_MESSAGE: "vm.wav"}
    got = run(variables, AVMD_ONLY, beep_ms=3000)
    # mod_amd is never executed: an unknown application would hang the call up
    assert [a for a, _ in got.apps] == ["answer", "avmd_start", "avmd_stop", "playback"]
    amd = got.event("dialer::amd")
    assert (amd["amd_result"], amd["amd_cause"], amd["amd_method"]) == ("MACHINE", "BEEP", "avmd")
    assert 3000 <= int(amd["amd_ms"]) <= 3100  # polled every 100 ms
    # the beep is over: the message plays at once, no second listen
    assert got.stages == ["dialer::amd", "dialer::voicemail"]
    assert got.event("dialer::voicemail") == {
        "dialer_attempt_id": "att-1",
        "voicemail_result": "left",
        "beep": "true",
    }
    assert (got.variables["amd_result"], got.variables["amd_cause"]) == ("MACHINE", "BEEP")


def test_without_mod_amd_no_beep_is_undecided_and_goes_on_as_a_human() -> None:
    got = run({c.AVMD_WINDOW_MS: "4000"}, AVMD_ONLY, beep_ms=9000, digit="1")
    amd = got.event("dialer::amd")
    assert (amd["amd_result"], amd["amd_cause"], amd["amd_method"]) == (
        "NOTSURE",
        "NO_BEEP",
        "avmd",
    )
    assert amd["amd_ms"] == "4000"
    assert got.stages == ["dialer::amd", "dialer::ivr", "dialer::handoff"]


def test_a_detection_left_from_an_earlier_run_does_not_count() -> None:
    got = run({"avmd_detect": "TRUE"}, AVMD_ONLY, digit="1")  # e.g. a transfer back
    assert got.event("dialer::amd")["amd_result"] == "NOTSURE"


def test_the_avmd_window_defaults_to_the_contract() -> None:
    got = run({}, AVMD_ONLY, digit="1")
    assert got.event("dialer::amd")["amd_ms"] == c.DEFAULTS[c.AVMD_WINDOW_MS]


def test_a_machine_found_by_avmd_is_hung_up_on_by_default() -> None:
    got = run({}, AVMD_ONLY, beep_ms=1000)
    assert got.stages == ["dialer::amd"]
    assert "playback" not in [a for a, _ in got.apps]


def test_neither_module_counts_as_undecided() -> None:
    got = run({}, [], digit="1")
    amd = got.event("dialer::amd")
    assert (amd["amd_result"], amd["amd_cause"], amd["amd_method"], amd["amd_ms"]) == (
        "NOTSURE",
        "NOT_INSTALLED",
        "none",
        "0",
    )
    assert not {"amd", "avmd_start"} & {a for a, _ in got.apps}


def test_amd_off_runs_no_detection() -> None:
    got = run({c.AMD: "false"}, BOTH, digit="1")
    assert "dialer::amd" not in got.stages


def test_entry_queue_goes_straight_to_the_queue() -> None:
    variables = {
        c.ENTRY: c.ENTRY_QUEUE,
        c.HANDOFF_TARGET: "sales@default",
        c.HANDOFF_TYPE: "ai_agent",  # the first handoff's: not used again
        c.FLOW_TIMEOUT: "60",
        c.MAX_DURATION: "300",
    }
    got = run(variables, BOTH, amd=HUMAN_AMD)
    # no answer, AMD, IVR, nor a new cap: the first handoff already set the rest of max_duration
    assert got.apps == [("callcenter", "sales@default")]
    assert got.events == [
        (
            "dialer::handoff",
            {
                "dialer_attempt_id": "att-1",
                "handoff_type": "queue",
                "handoff_target": "sales@default",
                "handoff_reason": "transfer",
            },
        )
    ]
    assert c.ENTRY not in got.variables  # one-shot
    assert got.variables[c.HANDOFF_TARGET] == "sales@default"


def test_an_empty_entry_runs_the_whole_flow() -> None:
    got = run({c.ENTRY: ""}, BOTH, amd=HUMAN_AMD, digit="1")
    assert got.apps[0] == ("answer", "")


def test_each_ivr_try_is_one_round_with_its_refused_key() -> None:
    """One play_and_get_digits try per round (tries=1 in its arguments): a refused key is
    reported from ``ivr_digit_invalid``, every try is counted, the valid key then acts."""
    variables = {
        c.IVR_DIGITS: "1",
        c.IVR_TRIES: "3",
        c.digit_var(c.IVR_ACTION, "1"): "opt_out",
    }
    got = run(variables, BOTH, amd=HUMAN_AMD, keys="51")
    tries = [fields for name, fields in got.events if name == "dialer::ivr"]
    assert [(t["ivr_try"], t["ivr_digit"], t["ivr_invalid"], t["read_result"]) for t in tries] == [
        ("1", "", "5", "failure"),
        ("2", "1", "", "success"),
    ]
    assert got.stages == ["dialer::amd", "dialer::ivr", "dialer::ivr", "dialer::opt_out"]
    pagd = [data for app, data in got.apps if app == "play_and_get_digits"]
    assert len(pagd) == 2
    assert all(data.split()[2] == "1" for data in pagd)


def test_no_input_is_every_try_timed_out() -> None:
    got = run({c.IVR_TRIES: "3"}, BOTH, amd=HUMAN_AMD)
    tries = [fields for name, fields in got.events if name == "dialer::ivr"]
    assert [(t["ivr_try"], t["ivr_digit"], t["ivr_invalid"]) for t in tries] == [
        ("1", "", ""),
        ("2", "", ""),
        ("3", "", ""),
    ]
    assert "dialer::handoff" not in got.stages


def test_the_lab_tone_is_expanded_to_a_tone_stream() -> None:
    variables = {c.AMD: "false", c.IVR: "false", c.MESSAGE: "tone:440:2",
                 c.HANDOFF_TYPE: c.HANDOFF_NONE}  # fmt: skip
    got = run(variables, BOTH)
    assert ("playback", "tone_stream://%(2000,0,440)") in got.apps
    prompt = run({c.IVR_PROMPT: "tone:880", c.IVR_TRIES: "1"}, BOTH, amd=HUMAN_AMD)
    (pagd,) = [data for app, data in prompt.apps if app == "play_and_get_digits"]
    assert pagd.split()[5] == "tone_stream://%(1000,0,880)"
