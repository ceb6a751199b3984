"""Ask one node, over the Event Socket, whether it can run the dialer's calls.

Two connections: the first only reads the greeting, because the event socket's ACL answers
before any password is asked (``auth/request`` = admitted, ``text/rude-rejection`` = refused),
so an ACL refusal and a wrong password are told apart and each named as such. The second
authenticates and asks the questions (``api`` only; nothing is changed on the node: ``fsctl
max_sessions`` and ``fsctl sps`` without a number read the setting).
"""

from __future__ import annotations

import logging
import socket as std_socket
from collections.abc import Callable

import gevent
import gevent.socket

from dialer.doctor.needs import Needs
from dialer.doctor.replies import (
    NOT_LOCATED,
    command_missing,
    has_extension,
    parse_fsctl,
    parse_queue_list,
    parse_version,
)
from dialer.doctor.report import Check, Report, Status
from dialer.esl.connection import Connection
from dialer.esl.errors import AuthenticationError, ESLError
from dialer.esl.nodes import parse_status
from dialer.fs_nodes import NodeConfig

log = logging.getLogger("dialer.doctor")

MIN_VERSION = (1, 10)
FLOW_EXTENSION = "dialer_flow"
FLOW_CONTEXT = "default"
FLOW_SCRIPT = "dialer_flow.lua"
ALWAYS_REQUIRED = ("mod_commands", "mod_dptools", "mod_dialplan_xml", "mod_lua")
ENDPOINTS = ("mod_sofia", "mod_loopback")
AMD_MISSING = "mod_amd not loaded: AMD falls back to avmd-only (a beep means machine)"

Api = Callable[[str], str]


# --- the greeting: is this host admitted? --------------------------------------------------


def _greeting(host: str, port: int, timeout: float) -> tuple[str, str, str]:
    """(Content-Type of the first frame, its body, the local address we connected from)."""
    sock = gevent.socket.create_connection((host, port), timeout=timeout)
    try:
        local = str(sock.getsockname()[0])
        data = b""
        with gevent.Timeout(timeout, TimeoutError("no greeting from the event socket")):
            while b"\n\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\n\n")
            headers = dict(
                line.split(": ", 1) for line in head.decode("utf-8", "replace").splitlines()
                if ": " in line
            )  # fmt: skip
            length = int(headers.get("Content-Length", "0") or 0)
            while len(body) < length:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                body += chunk
        return headers.get("Content-Type", ""), body.decode("utf-8", "replace").strip(), local
    finally:
        sock.close()


def _route_address(host: str, port: int) -> str:
    """The address this host would connect from (no packet is sent)."""
    try:
        family = std_socket.AF_INET6 if ":" in host else std_socket.AF_INET
        with std_socket.socket(family, std_socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))
            return str(probe.getsockname()[0])
    except OSError:
        return "this host"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, std_socket.timeout | TimeoutError | gevent.Timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


# --- the questions -----------------------------------------------------------------------


def _modules(api: Api, needs: Needs) -> list[Check]:
    def loaded(module: str) -> bool:
        return api(f"module_exists {module}").strip() == "true"

    checks: list[Check] = []
    amd = needs.amd and loaded("mod_amd")
    required = list(ALWAYS_REQUIRED)
    if needs.avmd or (needs.amd and not amd):  # without mod_amd, avmd alone detects machines
        required.append("mod_avmd")
    if needs.callcenter:
        required.append("mod_callcenter")
    why = {
        "mod_commands": "originate, uuid_*, module_exists",
        "mod_dptools": "answer, playback, play_and_get_digits, sched_hangup",
        "mod_dialplan_xml": "the dialer_flow extension",
        "mod_lua": "the flow script, dialer_flow.lua",
        "mod_avmd": "the voicemail beep; machine detection without mod_amd",
        "mod_callcenter": "queue handoff",
    }
    for module in required:
        if loaded(module):
            checks.append(Check(f"module {module}", Status.PASS, f"loaded ({why[module]})"))
        else:
            checks.append(Check(
                f"module {module}", Status.FAIL,
                f"not loaded: fs_cli -x 'load {module}' and add it to modules.conf.xml "
                f"(needed by {why[module]})",
            ))  # fmt: skip
    present = [m for m in ENDPOINTS if loaded(m)]
    if present:
        checks.append(Check("endpoints", Status.PASS, f"{', '.join(present)} loaded"))
    else:
        checks.append(Check(
            "endpoints", Status.FAIL, "neither mod_sofia nor mod_loopback loaded: no way to call"
        ))  # fmt: skip
    if not needs.amd:
        checks.append(Check("module mod_amd", Status.SKIP, "AMD is off", required=False))
    elif amd:
        checks.append(Check("module mod_amd", Status.PASS, "loaded (AMD)", required=False))
    else:
        checks.append(Check("module mod_amd", Status.WARN, AMD_MISSING, required=False))
    if loaded("mod_httapi"):
        checks.append(Check("module mod_httapi", Status.PASS, "loaded (URL prompts)", False))
    elif needs.url_prompts:
        checks.append(Check(
            "module mod_httapi", Status.WARN,
            "mod_httapi not loaded: prompts given as http(s) URLs will not play", False,
        ))  # fmt: skip
    else:
        checks.append(Check(
            "module mod_httapi", Status.SKIP, "not loaded; only http(s) URL prompts need it", False
        ))  # fmt: skip
    return checks


def _version(api: Api) -> Check:
    reply = api("version")
    version = parse_version(reply)
    if version is None:
        return Check("version", Status.FAIL, f"unreadable reply to 'version': {reply.strip()!r}")
    data = {"version": version.short, "full": version.text}
    wanted = ".".join(str(n) for n in MIN_VERSION)
    if version.numbers[:2] < MIN_VERSION:
        detail = f"FreeSWITCH {version.short}: {wanted} or later is required"
        return Check("version", Status.FAIL, detail, data=data)
    return Check("version", Status.PASS, f"FreeSWITCH {version.short}", data=data)


def _flow(api: Api) -> list[Check]:
    reply = api(f"xml_locate dialplan context name {FLOW_CONTEXT}")
    install = "copy freeswitch/dialplan/dialer_flow.xml to conf/dialplan/default/ and reloadxml"
    if has_extension(reply, FLOW_EXTENSION):
        extension = Check(
            "flow extension", Status.PASS,
            f"{FLOW_EXTENSION} found in dialplan context {FLOW_CONTEXT}",
        )  # fmt: skip
    elif reply.strip().startswith(NOT_LOCATED):
        extension = Check(
            "flow extension", Status.FAIL, f"no dialplan context {FLOW_CONTEXT}: {install}"
        )
    else:
        extension = Check(
            "flow extension", Status.FAIL,
            f"{FLOW_EXTENSION} not in dialplan context {FLOW_CONTEXT}: {install}",
        )  # fmt: skip
    return [extension, _script(api)]


def _script(api: Api) -> Check:
    folder = api("global_getvar script_dir").strip()
    if not folder or folder.startswith("-ERR"):
        return Check("flow script", Status.SKIP, "script_dir unknown: not checked", False)
    path = f"{folder.rstrip('/')}/{FLOW_SCRIPT}"
    reply = api(f"file_exists {path}").strip()
    if command_missing(reply):
        return Check("flow script", Status.SKIP, "this FreeSWITCH has no file_exists", False)
    if reply == "true":
        return Check("flow script", Status.PASS, f"{path} present", data={"path": path})
    return Check(
        "flow script", Status.FAIL,
        f"{path} missing: copy freeswitch/scripts/{FLOW_SCRIPT} there", data={"path": path},
    )  # fmt: skip


def _limits(api: Api, node: NodeConfig) -> list[Check]:
    max_sessions = parse_fsctl(api("fsctl max_sessions"), "max sessions")
    sps = parse_fsctl(api("fsctl sps"), "sessions per second")
    if max_sessions is None or sps is None:  # read them from `status` instead
        status = parse_status(api("status"))
        max_sessions = status.max_sessions if max_sessions is None else max_sessions
        sps = status.sps_limit if sps is None else sps
    checks: list[Check] = []
    wanted = node.max_channels
    data: dict[str, float | None] = {"node": max_sessions, "configured": wanted}
    if max_sessions is None:
        checks.append(Check("max-sessions", Status.FAIL, "the node did not say", data=data))
    elif max_sessions >= wanted:
        checks.append(Check(
            "max-sessions", Status.PASS,
            f"node {max_sessions} >= configured max_channels {wanted}", data=data,
        ))  # fmt: skip
    else:
        checks.append(Check(
            "max-sessions", Status.FAIL,
            f"node {max_sessions} < configured max_channels {wanted}: raise max-sessions in "
            f"switch.conf.xml (or fsctl max_sessions {wanted}), or lower max_channels",
            data=data,
        ))  # fmt: skip
    cps = node.sessions_per_second
    shown = f"{cps:g}"
    data = {"node": sps, "configured": cps}
    if sps is None:
        checks.append(Check("sessions-per-second", Status.FAIL, "the node did not say", data=data))
    elif sps >= cps:
        checks.append(Check(
            "sessions-per-second", Status.PASS, f"node {sps} >= configured {shown}", data=data
        ))  # fmt: skip
    else:
        checks.append(Check(
            "sessions-per-second", Status.FAIL,
            f"node {sps} < configured {shown}: raise sessions-per-second in switch.conf.xml "
            f"(or fsctl sps {int(cps + 0.999)}), or lower the node's sps",
            data=data,
        ))  # fmt: skip
    return checks


def _queues(api: Api, needs: Needs) -> Check:
    wanted = dict(needs.queues)
    if not needs.callcenter:
        return Check("queues", Status.SKIP, f"no queue used by {needs.scope}", required=False)
    reply = api("callcenter_config queue list")
    listed = parse_queue_list(reply)
    if listed is None:
        why = "mod_callcenter not loaded" if command_missing(reply) else repr(reply.strip()[:80])
        return Check("queues", Status.FAIL, f"cannot list the queues: {why}")
    data = {"wanted": sorted(wanted), "configured": listed}
    missing = [q for q in wanted if q not in listed]
    if missing:
        shown = "; ".join(f"{q} ({', '.join(wanted[q])})" for q in missing)
        return Check(
            "queues", Status.FAIL,
            f"missing: {shown}: add a <queue> to callcenter.conf.xml, then "
            "fs_cli -x 'reload mod_callcenter'",
            data=data,
        )  # fmt: skip
    return Check("queues", Status.PASS, f"{', '.join(wanted)} configured", data=data)


# --- the whole examination -------------------------------------------------------------------


def examine(
    node: NodeConfig, needs: Needs, *, timeout: float = 5.0, extra: tuple[Check, ...] = ()
) -> Report:
    """Every check of ``node`` for ``needs``; ``extra`` (e.g. the campaigns read) goes last."""
    address = f"{node.host}:{node.port}"
    checks = _connect_and_ask(node, needs, timeout)
    report = Report(node.name, address, (*checks, *extra))
    log.info(
        "doctor node=%s ok=%s passed=%d warnings=%d failed=%d",
        node.name, report.ok, report.count(Status.PASS), report.count(Status.WARN),
        report.count(Status.FAIL),
    )  # fmt: skip
    return report


def _connect_and_ask(node: NodeConfig, needs: Needs, timeout: float) -> list[Check]:
    address = f"{node.host}:{node.port}"
    try:
        kind, body, local = _greeting(node.host, node.port, timeout)
    except (OSError, TimeoutError, gevent.Timeout) as exc:
        source = _route_address(node.host, node.port)
        return [
            Check(
                "esl connection", Status.FAIL,
                f"{address}: cannot connect from {source}: {_reason(exc)} (is mod_event_socket "
                "loaded and listening on this address? see event_socket.conf.xml listen-ip)",
            ),
            Check("esl acl", Status.SKIP, "not reached", data={"from": source}),
        ]  # fmt: skip
    if kind == "text/rude-rejection":
        return [
            Check("esl connection", Status.FAIL, f"{address}: refused before authentication"),
            Check(
                "esl acl", Status.FAIL,
                f"{local} refused by the event socket ACL ({body or 'rude rejection'}): add it "
                "to the apply-inbound-acl list of event_socket.conf.xml, then reload "
                "mod_event_socket",
                data={"from": local},
            ),
        ]  # fmt: skip
    if kind != "auth/request":
        return [
            Check("esl connection", Status.FAIL, f"{address}: not an event socket ({kind!r})"),
            Check("esl acl", Status.SKIP, "not reached", data={"from": local}),
        ]
    acl = Check(
        "esl acl", Status.PASS, f"{local} admitted by the event socket ACL", data={"from": local}
    )
    conn = Connection(
        node.host, node.port, node.password.get_secret_value(), name=node.name,
        connect_timeout=timeout, command_timeout=timeout, idle_timeout=None,
    )  # fmt: skip
    try:
        conn.connect()
    except AuthenticationError as exc:
        text = str(exc).rpartition("auth rejected: ")[2] or "rejected"
        return [
            Check(
                "esl connection", Status.FAIL,
                f"{address}: authentication failed ({text}): the node's password in "
                "DIALER_FS_NODES differs from event_socket.conf.xml's",
            ),
            acl,
        ]  # fmt: skip
    except (ESLError, OSError) as exc:
        return [Check("esl connection", Status.FAIL, f"{address}: {exc}"), acl]
    try:
        local = str(conn.sock.getsockname()[0]) if conn.sock is not None else local
        checks = [
            Check(
                "esl connection", Status.PASS, f"{address} authenticated, from {local}",
                data={"from": local},
            ),
            acl,
        ]  # fmt: skip
        _ask(lambda line: conn.api(line), node, needs, checks)
        return checks
    finally:
        conn.stop(timeout=1.0)


def _ask(api: Api, node: NodeConfig, needs: Needs, checks: list[Check]) -> None:
    """Append each group's checks; a connection lost (or a reply that never comes) ends the
    questions with a failure, keeping the answers already had."""
    groups: list[Callable[[], list[Check]]] = [
        lambda: [_version(api)],
        lambda: _modules(api, needs),
        lambda: _flow(api),
        lambda: _limits(api, node),
        lambda: [_queues(api, needs)],
    ]
    for group in groups:
        try:
            checks.extend(group())
        except ESLError as exc:
            checks.append(Check("esl session", Status.FAIL, f"the checks stopped: {exc}"))
            return
