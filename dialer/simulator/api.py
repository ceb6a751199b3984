"""``api`` / ``bgapi`` commands, answering with FreeSWITCH's exact texts (fixtures 01, 08a)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from dialer.simulator.call import Command
from dialer.simulator.clock import date_local

if TYPE_CHECKING:
    from dialer.simulator.server import Switch

VERSION = (
    "FreeSWITCH Version 1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit"
    " (git a88d069 2024-08-02 21:02:27Z 64bit)\n"
)
NO_SUCH_CHANNEL = "-ERR No such channel!\n"
MODULES = frozenset(
    {
        "mod_console",
        "mod_logfile",
        "mod_event_socket",
        "mod_sofia",
        "mod_loopback",
        "mod_commands",
        "mod_conference",
        "mod_db",
        "mod_dptools",
        "mod_expr",
        "mod_hash",
        "mod_callcenter",
        "mod_avmd",
        "mod_spandsp",
        "mod_dialplan_xml",
        "mod_sndfile",
        "mod_native_file",
        "mod_local_stream",
        "mod_tone_stream",
        "mod_say_en",
        "mod_amd",
    }
)


def run_api(switch: Switch, name: str, args: str) -> str:
    handler = _COMMANDS.get(name)
    if handler is None:
        return f"-ERR {name} Command not found!\n"
    return handler(switch, args)


def _version(switch: Switch, args: str) -> str:
    return VERSION


def _uptime(switch: Switch) -> str:
    us = int(switch.clock.real_elapsed() * 1_000_000)
    secs, micro = divmod(us, 1_000_000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    days, hours = divmod(hours, 24)
    years, days = divmod(days, 365)
    return (
        f"UP {years} years, {days} days, {hours} hours, {mins} minutes, {secs} seconds, "
        f"{micro // 1000} milliseconds, {micro % 1000} microseconds"
    )


def _status(switch: Switch, args: str) -> str:
    lim = switch.limits
    return (
        f"{_uptime(switch)}\n"
        "FreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit) is ready\n"
        f"{lim.total} session(s) since startup\n"
        f"{lim.count} session(s) - peak {lim.peak}, last 5min {lim.peak} \n"
        f"{lim.per_second_used()} session(s) per Sec out of max {lim.sps}, "
        f"peak {lim.per_second_used()}, last 5min {lim.per_second_used()} \n"
        f"{lim.max_sessions} session(s) max\n"
        "min idle cpu 0.00/97.00\n"
        "Current Stack Size/Max 240K/8192K\n"
    )


def _show(switch: Switch, args: str) -> str:
    words = args.split()
    if not words or words[0] != "channels":
        return "-USAGE: show channels [count|as json]\n"
    # Only A legs are modelled; a real loopback call shows its B leg too.
    calls = [c for c in switch.calls.values() if not c.ch.hungup]
    if words[1:] == ["count"]:
        return f"\n{len(calls)} total.\n"
    rows = [_row(c.ch) for c in calls]
    if words[1:3] == ["as", "json"]:
        if not rows:
            return json.dumps({"row_count": 0}) + "\n"
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":")) + "\n"
    if not rows:
        return "\n0 total.\n"
    keys = list(_row_keys())
    lines = [",".join(keys)] + [",".join(r[k] for k in keys) for r in rows]
    return "\n".join(lines) + f"\n\n{len(rows)} total.\n"


def _row_keys() -> tuple[str, ...]:
    return (
        "uuid",
        "direction",
        "created",
        "created_epoch",
        "name",
        "state",
        "cid_name",
        "cid_num",
        "ip_addr",
        "dest",
        "application",
        "application_data",
        "dialplan",
        "context",
        "read_codec",
        "read_rate",
        "read_bit_rate",
        "write_codec",
        "write_rate",
        "write_bit_rate",
        "secure",
        "hostname",
        "presence_id",
        "presence_data",
        "accountcode",
        "callstate",
        "callee_name",
        "callee_num",
        "callee_direction",
        "call_uuid",
        "sent_callee_name",
        "sent_callee_num",
        "initial_cid_name",
        "initial_cid_num",
        "initial_ip_addr",
        "initial_dest",
        "initial_dialplan",
        "initial_context",
    )


def _row(ch: object) -> dict[str, str]:
    from dialer.simulator.channel import Channel

    assert isinstance(ch, Channel)
    answered = ch.answer_state == "answered"
    codec = ("L16", "8000", "128000") if answered else ("", "", "")
    values = {
        "uuid": ch.uuid,
        "direction": "outbound",
        "created": date_local(ch.created_us),
        "created_epoch": str(ch.created_us // 1_000_000),
        "name": ch.name,
        "state": ch.state,
        "cid_name": ch.cid_name,
        "cid_num": ch.cid_number,
        "dest": ch.dial.number,
        "application": ch.app if answered else "",
        "application_data": ch.app_arg if answered else "",
        "dialplan": "xml",
        "context": ch.dial.context,
        "read_codec": codec[0],
        "read_rate": codec[1],
        "read_bit_rate": codec[2],
        "write_codec": codec[0],
        "write_rate": codec[1],
        "write_bit_rate": codec[2],
        "hostname": "sim",
        "callstate": ch.call_state,
        "callee_name": "Outbound Call",
        "callee_num": ch.dial.context,
        "call_uuid": ch.uuid,
        "initial_cid_name": ch.cid_name,
        "initial_cid_num": ch.cid_number,
        "initial_dest": ch.dial.number,
        "initial_dialplan": "xml",
        "initial_context": ch.dial.context,
    }
    return {k: values.get(k, "") for k in _row_keys()}


def _uuid_exists(switch: Switch, args: str) -> str:
    call = switch.calls.get(args.split()[0] if args else "")
    return "true" if call is not None and not call.ch.hungup else "false"


def _uuid_getvar(switch: Switch, args: str) -> str:
    words = args.split()
    call = switch.calls.get(words[0]) if words else None
    if call is None:
        return NO_SUCH_CHANNEL
    if len(words) < 2:
        return "-USAGE: <uuid> <var>\n"
    return call.ch.variables.get(words[1], "_undef_")


def _uuid_kill(switch: Switch, args: str) -> str:
    words = args.split()
    call = switch.calls.get(words[0]) if words else None
    if call is None or call.ch.hungup:
        return NO_SUCH_CHANNEL
    call.kill(words[1] if len(words) > 1 else "NORMAL_CLEARING")
    return "+OK\n"


def _uuid_transfer(switch: Switch, args: str) -> str:
    words = [w for w in args.split() if w not in ("-bleg", "-both")]
    call = switch.calls.get(words[0]) if words else None
    if call is None or call.ch.hungup:
        return NO_SUCH_CHANNEL
    if len(words) < 2:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    call.commands.put(Command("transfer", app=words[1]))
    return "+OK\n"


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
    return "-ERR INVALID COMMAND\n"


def _module_exists(switch: Switch, args: str) -> str:
    return "true" if args.strip() in MODULES else "false"


def _originate(switch: Switch, args: str) -> str:
    return switch.originate(args)


_COMMANDS: dict[str, Callable[[Switch, str], str]] = {
    "version": _version,
    "status": _status,
    "show": _show,
    "uuid_exists": _uuid_exists,
    "uuid_getvar": _uuid_getvar,
    "uuid_kill": _uuid_kill,
    "uuid_transfer": _uuid_transfer,
    "hupall": _hupall,
    "fsctl": _fsctl,
    "module_exists": _module_exists,
    "originate": _originate,
}
