"""What a node says about its own configuration: ``xml_locate``, ``global_getvar``,
``file_exists`` and ``callcenter_config queue list``, with FreeSWITCH 1.10's reply texts.

These are the questions ``dialer doctor`` asks a node (is the shipped flow installed, are the
campaign queues configured). The installed configuration is state of the switch, kept as
attributes set here (``configure``) so the switch itself needs no knowledge of it; a switch
never configured answers like a node where ``freeswitch/`` was installed as documented.

Reply texts, from mod_commands.c and mod_callcenter.c (1.10):

- ``xml_locate <section> <tag> <attr> <value>``: the element as ``switch_xml_toxml`` prints it
  (two-space indent), ``can't find anything\\n`` when absent, ``-Error bad args\\n`` unless
  there are 1 or 4 words. ``switch_xml_locate`` looks only at the section's *children*, so a
  dialplan extension is found through its context: ``xml_locate dialplan context name
  default``, never ``xml_locate dialplan extension name dialer_flow`` (always "can't find").
- ``global_getvar <name>``: the value, no newline; an unknown name gives an empty body.
- ``file_exists <path>``: ``true`` / ``false`` (no newline).
- ``callcenter_config queue list``: a ``|``-separated header, one row per loaded queue, then
  ``+OK\\n``; without mod_callcenter the command does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from dialer.simulator.events import HOSTNAME

if TYPE_CHECKING:
    from dialer.simulator.switch import Switch

FLOW_EXTENSION = "dialer_flow"
FLOW_SCRIPT = "dialer_flow.lua"
DEFAULT_QUEUE = "dialer_q@default"
DEFAULT_CONTEXT = "default"
#: vanilla ``default`` context extensions the lab tests dial (9664: hold music) plus the flow
DEFAULT_EXTENSIONS = frozenset({"9664", FLOW_EXTENSION})
#: a package install's directories (``global_getvar``), as the freeswitch/README.md paths
GLOBALS: dict[str, str] = {
    "base_dir": "/usr",
    "conf_dir": "/etc/freeswitch",
    "script_dir": "/usr/share/freeswitch/scripts",
    "sounds_dir": "/usr/share/freeswitch/sounds",
    "recordings_dir": "/var/lib/freeswitch/recordings",
    "log_dir": "/var/log/freeswitch",
    "hostname": HOSTNAME,
    "switchname": HOSTNAME,
}

QUEUE_COLUMNS = (
    "name|strategy|moh_sound|time_base_score|tier_rules_apply|tier_rule_wait_second|"
    "tier_rule_wait_multiply_level|tier_rule_no_agent_no_wait|discard_abandoned_after|"
    "abandoned_resume_allowed|max_wait_time|max_wait_time_with_no_agent|"
    "max_wait_time_with_no_agent_time_reached|record_template|calls_answered|calls_abandoned|"
    "ring_progressively_delay|skip_agents_with_external_calls|agent_no_answer_status"
)
# the sample freeswitch/autoload_configs/callcenter.conf.xml queue's settings, after the name
_QUEUE_ROW = (
    "longest-idle-agent|tone_stream://%(200,1800,425)|system|false|300|true|false|60|false|"
    "30|0|5||0|0|0|true|On Break"
)

# attribute names on the switch (set by ``configure``, read with these defaults)
_EXTENSIONS = "dialplan_extensions"
_QUEUES = "callcenter_queues"
_SCRIPTS = "installed_scripts"


def configure(
    switch: Switch,
    *,
    extensions: Iterable[str] | None = None,
    queues: Iterable[str] | None = None,
    scripts: Iterable[str] | None = None,
) -> None:
    """Change what is installed on ``switch``: the ``default`` context's extension names,
    mod_callcenter's loaded queues, the script file names in ``script_dir``. ``None`` keeps
    the current value (at first: the shipped flow, ``dialer_q@default``, ``dialer_flow.lua``).
    """
    if extensions is not None:
        setattr(switch, _EXTENSIONS, frozenset(extensions))
    if queues is not None:
        setattr(switch, _QUEUES, tuple(dict.fromkeys(queues)))
    if scripts is not None:
        setattr(switch, _SCRIPTS, frozenset(scripts))


def extensions(switch: Switch) -> frozenset[str]:
    return frozenset(getattr(switch, _EXTENSIONS, DEFAULT_EXTENSIONS))


def queues(switch: Switch) -> tuple[str, ...]:
    return tuple(getattr(switch, _QUEUES, (DEFAULT_QUEUE,)))


def scripts(switch: Switch) -> frozenset[str]:
    return frozenset(getattr(switch, _SCRIPTS, frozenset({FLOW_SCRIPT})))


# --- the api commands ------------------------------------------------------------------------


def xml_locate(switch: Switch, args: str) -> str:
    words = args.split()
    if words == ["root"] or (len(words) == 1 and words[0].lower() == "root"):
        return _document(switch)
    if len(words) not in (1, 4):
        return "-Error bad args\n"
    if len(words) == 4:
        section, tag, attr, value = words
        if (section, tag, attr, value) == ("dialplan", "context", "name", DEFAULT_CONTEXT):
            return _context(switch, 0)
    return "can't find anything\n"


def global_getvar(switch: Switch, args: str) -> str:
    name = args.strip()
    if not name:
        return "".join(f"{k}={v}\n" for k, v in GLOBALS.items())
    return GLOBALS.get(name, "")


def file_exists(switch: Switch, args: str) -> str:
    path = args.strip()
    folder, _, name = path.rpartition("/")
    found = folder == GLOBALS["script_dir"] and name in scripts(switch)
    return "true" if found else "false"


def callcenter_config(switch: Switch, args: str) -> str:
    if "mod_callcenter" not in switch.modules:
        return "-ERR callcenter_config Command not found!\n"
    if args.split() == ["queue", "list"]:
        rows = "".join(f"{name}|{_QUEUE_ROW}\n" for name in queues(switch))
        return f"{QUEUE_COLUMNS}\n{rows}+OK\n"
    return "-ERR the simulator models only 'callcenter_config queue list'\n"


# --- switch_xml_toxml ------------------------------------------------------------------------


def _element(name: str, attrs: dict[str, str], children: list[str], depth: int) -> str:
    pad = "  " * depth
    attributes = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    if not children:
        return f"{pad}<{name}{attributes}/>\n"
    return f"{pad}<{name}{attributes}>\n" + "".join(children) + f"{pad}</{name}>\n"


def _extension(name: str, depth: int) -> str:
    inner = depth + 2
    if name == FLOW_EXTENSION:  # as freeswitch/dialplan/dialer_flow.xml installs it
        actions = [
            _element("action", {"application": "lua", "data": FLOW_SCRIPT}, [], inner),
            _element("action", {"application": "hangup", "data": "NORMAL_CLEARING"}, [], inner),
            _element("anti-action", {"application": "hangup", "data": "CALL_REJECTED"}, [], inner),
        ]
        conditions = [
            _element("condition", {"field": "destination_number", "expression": "^dialer_flow$"},
                     [], depth + 1),
            _element("condition", {"field": "${direction}", "expression": "^outbound$"},
                     actions, depth + 1),
        ]  # fmt: skip
        return _element("extension", {"name": name}, conditions, depth)
    answer = _element("action", {"application": "answer"}, [], inner)
    condition = _element(
        "condition", {"field": "destination_number", "expression": f"^{name}$"}, [answer],
        depth + 1,
    )
    return _element("extension", {"name": name}, [condition], depth)


def _context(switch: Switch, depth: int) -> str:
    children = [_extension(name, depth + 1) for name in sorted(extensions(switch))]
    return _element("context", {"name": DEFAULT_CONTEXT}, children, depth)


def _document(switch: Switch) -> str:
    section = _element("section", {"name": "dialplan"}, [_context(switch, 2)], 1)
    return _element("document", {"type": "freeswitch/xml"}, [section], 0)
