"""The shipped FreeSWITCH configuration (``freeswitch/``): well-formed, only applications and
modules of FreeSWITCH 1.10, only the variables of the flow contract, and the same stage events,
with the same fields in the same order, as the simulator's flow."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dialer.flow import contract

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "freeswitch"
DIALPLAN = SHIPPED / "dialplan" / "dialer_flow.xml"
SCRIPT = SHIPPED / "scripts" / "dialer_flow.lua"
CALLCENTER = SHIPPED / "autoload_configs" / "callcenter.conf.xml"
MODULES = SHIPPED / "modules.conf.fragment.xml"
SIMULATOR_FLOW = ROOT / "dialer" / "simulator" / "flow.py"

XML_FILES = sorted(SHIPPED.rglob("*.xml"))

# Dialplan applications of FreeSWITCH 1.10 the flow may use, by module. Source: the
# SWITCH_ADD_APP registrations of src/mod/applications/mod_dptools/mod_dptools.c,
# mod_callcenter/mod_callcenter.c, mod_avmd/mod_avmd.c and src/mod/languages/mod_lua/mod_lua.cpp
# at tag v1.10.12 (a subset: the ones a call flow plausibly needs).
DPTOOLS_APPS = frozenset(
    {
        "answer", "pre_answer", "ring_ready", "hangup", "sleep", "park", "set", "unset",
        "export", "event", "playback", "play_and_get_digits", "read", "record_session",
        "stop_record_session", "sched_hangup", "sched_cancel", "sched_transfer", "bridge",
        "transfer", "execute_extension", "respond", "send_dtmf", "log", "info",
    }
)  # fmt: skip
CALLCENTER_APPS = frozenset({"callcenter"})
AVMD_APPS = frozenset({"avmd_start", "avmd_stop", "avmd"})
LUA_APPS = frozenset({"lua"})
# mod_amd is third-party (a port of Asterisk's app_amd, not in the FreeSWITCH tree): allowed,
# but only behind a module_exists check
OPTIONAL_APPS = frozenset({"amd"})
KNOWN_APPS = DPTOOLS_APPS | CALLCENTER_APPS | AVMD_APPS | LUA_APPS | OPTIONAL_APPS

# Modules of the FreeSWITCH 1.10 tree (src/mod/*/), plus the optional third-party mod_amd.
KNOWN_MODULES = frozenset(
    {
        "mod_event_socket", "mod_commands", "mod_dptools", "mod_dialplan_xml", "mod_lua",
        "mod_sofia", "mod_loopback", "mod_callcenter", "mod_avmd", "mod_tone_stream",
        "mod_sndfile", "mod_native_file", "mod_local_stream", "mod_expr", "mod_say_en",
    }
)  # fmt: skip
OPTIONAL_MODULES = frozenset({"mod_amd"})

# ``dialer_…`` words that are not channel variables: the extension and script name
NOT_VARIABLES = frozenset({"dialer_flow"})


def contract_variables() -> set[str]:
    """Every variable name of the contract, and the per-digit prefixes (``dialer_ivr_action_``)."""
    names = {
        value
        for name, value in vars(contract).items()
        if name.isupper() and isinstance(value, str) and value.startswith("dialer_")
    }
    names.discard(contract.APPLICATION)
    templates = {n for n in names if "{digit}" in n}
    return (names - templates) | {t.replace("{digit}", "") for t in templates}


def lua_text() -> str:
    return SCRIPT.read_text(encoding="utf-8")


def dialplan_actions() -> list[ET.Element]:
    tree = ET.parse(DIALPLAN)
    return [e for e in tree.iter() if e.tag in ("action", "anti-action")]


# --- well-formed, and wired together -----------------------------------------------------


@pytest.mark.parametrize("path", XML_FILES, ids=lambda p: str(p.relative_to(SHIPPED)))
def test_every_xml_file_is_well_formed(path: Path) -> None:
    ET.parse(path)


def test_the_shipped_files_are_there() -> None:
    assert {DIALPLAN, CALLCENTER, MODULES} <= set(XML_FILES)
    assert SCRIPT.is_file()
    assert (SHIPPED / "README.md").is_file()
    assert (SHIPPED / "sounds" / "README.md").is_file()
    # text only: prompts are named, not shipped
    assert not [p for p in SHIPPED.rglob("*") if p.suffix.lower() in {".wav", ".mp3", ".raw"}]


def test_the_extension_is_the_originate_application_and_runs_the_script() -> None:
    extension, dialplan, context = contract.APPLICATION.split()
    assert (dialplan, context) == ("XML", "default")
    root = ET.parse(DIALPLAN).getroot()
    assert root.tag == "include"  # a file for conf/dialplan/default/
    (ext,) = root.findall("extension")
    assert ext.get("name") == extension
    first = ext.find("condition")
    assert first is not None
    assert (first.get("field"), first.get("expression")) == (
        "destination_number",
        f"^{extension}$",
    )
    ran = [(a.get("application"), a.get("data")) for a in dialplan_actions() if a.tag == "action"]
    assert ran == [("lua", SCRIPT.name), ("hangup", "NORMAL_CLEARING")]


def test_the_sample_queue_is_the_contract_default_target() -> None:
    root = ET.parse(CALLCENTER).getroot()
    assert (root.tag, root.get("name")) == ("configuration", "callcenter.conf")
    queues = {q.get("name") for q in root.iter("queue")}
    agents = {a.get("name") for a in root.iter("agent")}
    assert contract.DEFAULTS[contract.HANDOFF_TARGET] in queues
    assert agents
    tiers = [(t.get("agent"), t.get("queue")) for t in root.iter("tier")]
    assert tiers
    assert all(agent in agents and queue in queues for agent, queue in tiers)


def test_the_modules_are_freeswitch_modules() -> None:
    text = MODULES.read_text(encoding="utf-8")
    loaded = {e.get("module") for e in ET.parse(MODULES).iter("load")}
    # the optional module is listed, commented out
    mentioned = set(re.findall(r'<load module="(mod_[a-z_]+)"', text))
    assert loaded <= KNOWN_MODULES
    assert mentioned - loaded <= OPTIONAL_MODULES
    required = {"mod_callcenter", "mod_avmd", "mod_lua", "mod_dptools", "mod_sofia", "mod_loopback"}
    assert required <= loaded


# --- applications --------------------------------------------------------------------------


def lua_applications() -> set[str]:
    return set(re.findall(r'session:execute\(\s*"([a-z_0-9]+)"', lua_text()))


def test_only_freeswitch_applications_are_used() -> None:
    in_xml = {a.get("application") for a in dialplan_actions()}
    in_lua = lua_applications()
    assert in_xml <= KNOWN_APPS, in_xml - KNOWN_APPS
    assert in_lua <= KNOWN_APPS, in_lua - KNOWN_APPS
    # the flow does what its README says
    assert {"answer", "sched_hangup", "record_session", "event", "play_and_get_digits"} <= in_lua
    assert {"callcenter", "bridge", "transfer", "avmd_start", "avmd_stop", "amd"} <= in_lua


def test_the_optional_amd_runs_only_where_installed() -> None:
    text = lua_text()
    # an unknown application hangs the call up: the flow asks first, and falls back to avmd
    helper = re.search(
        r'local function installed\(module\)\n\s*return api:execute\("module_exists", module\)'
        r' == "true"',
        text,
    )
    assert helper
    assert "local api = freeswitch.API()" in text
    amd_check = text.index('if installed("mod_amd") then')
    assert helper.start() < amd_check < text.index('session:execute("amd"')
    assert amd_check < text.index('elseif installed("mod_avmd") then')


def test_the_amd_decision_time_is_measured_on_the_switch_clock() -> None:
    # mod_amd sets only amd_result / amd_cause (10a-10d): the script times the application
    text = lua_text()
    assert "return tonumber(api:getTime())" in text
    before = text.index("local started = now_ms()")
    assert before < text.index('session:execute("amd"') < text.index("taken = now_ms() - started")


def test_every_bridge_sets_its_codecs() -> None:
    # capture 17x: without absolute_codec_string a loopback A leg offers only L16 → 488
    text = lua_text()
    bridges = [m.start() for m in re.finditer(r'session:execute\("bridge"', text)]
    assert bridges
    for at in bridges:
        assert "absolute_codec_string=" in text[max(0, at - 300) : at]


def test_the_script_parses() -> None:
    luac = shutil.which("luac") or shutil.which("luac5.4") or shutil.which("luac5.3")
    if luac is None:
        pytest.skip("no luac on this machine (apt-get install lua5.4 to run this check)")
    done = subprocess.run(
        [luac, "-p", str(SCRIPT)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr


# --- variables ------------------------------------------------------------------------------


def test_the_dialplan_reads_only_contract_variables() -> None:
    text = DIALPLAN.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(dialer_[A-Za-z0-9_]*)", text))
    assert used <= contract_variables(), used - contract_variables()


def test_the_script_reads_only_contract_variables() -> None:
    text = lua_text()
    # every "dialer_…" string literal, and every name inside one (cc_export_vars' list)
    literals = re.findall(r'"([^"\n]*)"', text)
    words = {w for lit in literals for w in re.findall(r"\bdialer_[A-Za-z0-9_]*", lit)}
    words |= set(re.findall(r"\$\{(dialer_[A-Za-z0-9_]*)", text))
    words -= NOT_VARIABLES
    # "dialer_q@default" is a queue name (the default target), "dialer/" a recordings folder
    words.discard("dialer_q")
    assert words <= contract_variables(), words - contract_variables()


def test_the_script_reads_every_variable_of_the_contract() -> None:
    text = lua_text()
    missing = {n for n in contract_variables() if f'"{n}' not in text and f",{n}" not in text}
    assert not missing


def test_the_script_defaults_are_the_contract_defaults() -> None:
    text = lua_text()
    block = re.search(r"local DEFAULTS = \{\n(.*?)\n\}", text, re.S)
    assert block is not None
    pairs = re.findall(r'\["([a-z_0-9]+)"\] = "((?:[^"\\]|\\.)*)"', block.group(1))
    assert dict(pairs) == contract.DEFAULTS
    assert len(pairs) == len(contract.DEFAULTS)


# --- stage events ---------------------------------------------------------------------------


def simulator_events() -> dict[str, list[str]]:
    """subclass → field names in order, from the ``custom(call, subclass, [...])`` calls."""
    tree = ast.parse(SIMULATOR_FLOW.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id != "custom" or len(node.args) != 3:
            continue
        subclass, fields = node.args[1], node.args[2]
        assert isinstance(subclass, ast.Constant)
        assert isinstance(subclass.value, str)
        assert isinstance(fields, ast.List)
        names: list[str] = []
        for item in fields.elts:
            if isinstance(item, ast.Starred):  # *attempt
                names.append(contract.ATTEMPT_ID)
                continue
            assert isinstance(item, ast.Tuple)
            key = item.elts[0]
            assert isinstance(key, ast.Constant)
            assert isinstance(key.value, str)
            names.append(key.value)
        found[subclass.value] = names
    return found


def script_events() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for match in re.finditer(r'custom\("(dialer::[a-z_]+)",\s*\{(.*?)\}\)', lua_text(), re.S):
        found[match.group(1)] = re.findall(r'\{\s*"([A-Za-z_]+)",', match.group(2))
    return found


def test_the_script_raises_the_simulator_events_with_the_same_fields() -> None:
    expected = simulator_events()
    assert set(expected) == {
        "dialer::amd",
        "dialer::ivr",
        "dialer::handoff",
        "dialer::voicemail",
        "dialer::opt_out",
    }
    assert script_events() == expected


def test_event_values_cannot_split_the_event_data() -> None:
    # the event application splits its data on every comma (capture 11): each value goes
    # through field(), which replaces commas
    text = lua_text()
    field = r'local function field\(value\)\n\s*return \(tostring\(value or ""\):gsub\(",",'
    assert re.search(field, text)
    assert 'pair[1] .. "=" .. field(pair[2])' in text
    assert len(re.findall(r'session:execute\("event"', text)) == 1  # only through custom()
