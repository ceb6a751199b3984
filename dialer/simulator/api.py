"""``api`` / ``bgapi`` commands, answering with FreeSWITCH's exact texts (fixtures 01, 08a)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent

from dialer.simulator import introspect
from dialer.simulator.clock import uptime_text
from dialer.simulator.control import Command
from dialer.simulator.tables import show

if TYPE_CHECKING:
    from dialer.simulator.switch import Switch

VERSION = (
    "FreeSWITCH Version 1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit"
    " (git a88d069 2024-08-02 21:02:27Z 64bit)\n"
)
NO_SUCH_CHANNEL = "-ERR No such channel!\n"


def run_api(switch: Switch, name: str, args: str) -> str:
    handler = _COMMANDS.get(name)
    if handler is None:
        return f"-ERR {name} Command not found!\n"
    return handler(switch, args)


def _version(switch: Switch, args: str) -> str:
    return VERSION


def _uptime(switch: Switch) -> str:
    return "UP " + uptime_text(int(switch.uptime() * 1_000_000))


def _status(switch: Switch, args: str) -> str:
    lim = switch.limits
    return (
        f"{_uptime(switch)}\n"
        "FreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit) is ready\n"
        f"{lim.total} session(s) since startup\n"
        f"{lim.count} session(s) - peak {lim.peak}, last 5min {lim.peak} \n"
        f"{lim.per_second_used()} session(s) per Sec out of max {lim.sps}, "
        f"peak {lim.sps_peak}, last 5min {lim.sps_peak} \n"
        f"{lim.max_sessions} session(s) max\n"
        "min idle cpu 0.00/97.00\n"
        "Current Stack Size/Max 240K/8192K\n"
    )


def _variables(switch: Switch, uuid: str) -> dict[str, str] | None:
    """The live channel's variables: an A leg, a loopback B leg, or a leg a bridge reached."""
    call = switch.calls.get(uuid)
    if call is not None:
        return None if call.ch.hungup else call.ch.variables
    bleg = switch.b_legs.get(uuid)
    if bleg is not None:
        return bleg.ch.variables
    far = switch.far_legs.get(uuid)
    return far.variables if far is not None else None


def _uuid_exists(switch: Switch, args: str) -> str:
    uuid = args.split()[0] if args else ""
    return "false" if _variables(switch, uuid) is None else "true"


def _uuid_getvar(switch: Switch, args: str) -> str:
    words = args.split()
    variables = _variables(switch, words[0]) if words else None
    if variables is None:
        call = switch.calls.get(words[0]) if words else None
        if call is None:
            return NO_SUCH_CHANNEL
        variables = call.ch.variables  # hanging up: still there until destroyed
    if len(words) < 2:
        return "-USAGE: <uuid> <var>\n"
    return variables.get(words[1], "_undef_")


def _uuid_kill(switch: Switch, args: str) -> str:
    words = args.split()
    uuid = words[0] if words else ""
    cause = words[1] if len(words) > 1 else "NORMAL_CLEARING"
    call = switch.calls.get(uuid)
    if call is not None and not call.ch.hungup:
        call.kill(cause)
        return "+OK\n"
    bleg = switch.b_legs.get(uuid)
    if bleg is not None:
        bleg.call.kill(cause, b_leg=True)  # as if the called party hung up
        return "+OK\n"
    return NO_SUCH_CHANNEL


def _uuid_transfer(switch: Switch, args: str) -> str:
    words = [w for w in args.split() if w not in ("-bleg", "-both")]
    call = switch.calls.get(words[0]) if words else None
    if call is None or call.ch.hungup:
        return NO_SUCH_CHANNEL
    if len(words) < 2:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    call.commands.put(Command("transfer", app=words[1]))
    return "+OK\n"


def _uuid_setvar(switch: Switch, args: str) -> str:
    """mod_commands ``uuid_setvar <uuid> <var> [value]``: no value unsets; the value is the
    rest of the line (``switch_separate_string`` into at most 3 words)."""
    words = args.strip().split(" ", 2)
    if len(words) < 2 or not words[0] or not words[1]:
        return "-USAGE: <uuid> <var> [value]\n"
    variables = _variables(switch, words[0])
    if variables is None:
        return NO_SUCH_CHANNEL
    if len(words) == 3 and words[2]:
        variables[words[1]] = words[2]
    else:
        variables.pop(words[1], None)
    return "+OK\n"


def _sched_hangup(switch: Switch, args: str) -> str:
    """mod_commands ``sched_hangup [+]<time> <uuid> [<cause>]``: the call hangs up with
    ``cause`` (ALLOTTED_TIMEOUT) at that (simulated) time; ``+0`` hangs it up now."""
    words = args.split()
    if not words:
        return "-USAGE: [+]<time> <uuid> [<cause>]\n"
    call = switch.calls.get(words[1]) if len(words) > 1 else None
    if call is None or call.ch.hungup:
        return NO_SUCH_CHANNEL
    when, now = words[0], switch.clock.now()
    seconds = _atol(when[1:])  # as mod_commands: also for an epoch, where 0 means now
    at = now + seconds if when.startswith("+") else float(_atol(when))
    cause = words[2] if len(words) > 2 else "ALLOTTED_TIMEOUT"
    call.schedule_hangup(now if seconds == 0 else at, cause)
    return "+OK\n"


def _atol(text: str) -> int:
    """C ``atol``: the leading integer, 0 when there is none."""
    match = re.match(r"\s*[+-]?\d+", text)
    return int(match.group()) if match else 0


def _hupall(switch: Switch, args: str) -> str:
    words = args.split()
    cause = words[0] if words else "MANAGER_REQUEST"
    if len(words) >= 3:
        var, value = words[1], words[2]
        for call in list(switch.calls.values()):
            if call.ch.variables.get(var) == value:
                call.kill(cause)
        return f"+OK hangup all channels matching [{var}]=[{value}] with cause: {cause}\n"
    for call in list(switch.calls.values()):
        call.kill(cause)
    return f"+OK hangup all channels with cause {cause}\n"


def _fsctl(switch: Switch, args: str) -> str:
    words = args.split()
    if words[:1] == ["sps"]:
        if len(words) > 1 and words[1].isdigit():
            switch.limits.set_sps(int(words[1]))
        return f"+OK sessions per second: {switch.limits.sps}\n"
    if words[:1] == ["max_sessions"]:
        if len(words) > 1 and words[1].isdigit():
            switch.limits.max_sessions = int(words[1])
        return f"+OK max sessions: {switch.limits.max_sessions}\n"
    if words[:1] == ["shutdown"] and "restart" in words[1:]:
        switch.request_restart()  # capture 14: +OK now, the disconnect ~1.3 s later
        return "+OK\n"
    return "-ERR INVALID COMMAND\n"


def _module_exists(switch: Switch, args: str) -> str:
    return "true" if args.strip() in switch.modules else "false"


def _echo(switch: Switch, args: str) -> str:
    """mod_commands ``echo <text>``: the text back as is, without a newline."""
    return args


def _msleep(switch: Switch, args: str) -> str:
    """mod_commands ``msleep <ms>``: sleeps real milliseconds (not scaled), answers ``+OK``.
    Over ``api`` it holds the connection, so later replies wait, as in FreeSWITCH."""
    word = args.split()[0] if args.split() else ""
    if word.lstrip("-").isdigit():
        gevent.sleep(max(0, int(word)) / 1000)
    return "+OK"


def _originate(switch: Switch, args: str) -> str:
    return switch.originate(args)


_COMMANDS: dict[str, Callable[[Switch, str], str]] = {
    "version": _version,
    "status": _status,
    "show": show,
    "msleep": _msleep,
    "echo": _echo,
    "uuid_exists": _uuid_exists,
    "uuid_getvar": _uuid_getvar,
    "uuid_kill": _uuid_kill,
    "uuid_transfer": _uuid_transfer,
    "uuid_setvar": _uuid_setvar,
    "sched_hangup": _sched_hangup,
    "hupall": _hupall,
    "fsctl": _fsctl,
    "module_exists": _module_exists,
    "xml_locate": introspect.xml_locate,
    "global_getvar": introspect.global_getvar,
    "file_exists": introspect.file_exists,
    "callcenter_config": introspect.callcenter_config,
    "originate": _originate,
}
