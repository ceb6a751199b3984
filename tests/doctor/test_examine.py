"""``examine``: every check against the simulator over TCP, one broken thing at a time."""

from __future__ import annotations

import socket

import gevent
import pytest
from gevent.server import StreamServer

from dialer.campaigns.model import CampaignConfig
from dialer.doctor import Report, Status, campaign_needs, examine, node_needs
from dialer.doctor.probe import AMD_MISSING, _version
from dialer.fs_nodes import NodeConfig
from dialer.simulator import Simulator, introspect
from tests.doctor.conftest import INSTALLED, node_of, start
from tests.engine.factories import campaign_config


def by_name(report: Report) -> dict[str, tuple[Status, str]]:
    return {c.name: (c.status, c.detail) for c in report.checks}


def failed(report: Report) -> list[str]:
    return [c.name for c in report.checks if c.status is Status.FAIL]


def config(**overrides: object) -> CampaignConfig:
    return CampaignConfig.model_validate(campaign_config(**overrides))


SALES = {"queues": {"sales": {"target": "sales@default"}}, "handoff": {"queue": "sales"}}


def test_an_installed_node_passes_every_required_check(sim: Simulator) -> None:
    report = examine(node_of(sim), node_needs([]), timeout=2)
    checks = by_name(report)
    assert report.ok, report.lines()
    assert report.exit_code == 0
    assert failed(report) == []
    assert checks["version"] == (Status.PASS, "FreeSWITCH 1.10.12")
    assert checks["esl connection"][0] is Status.PASS
    assert "from 127.0.0.1" in checks["esl connection"][1]
    assert checks["esl acl"] == (Status.PASS, "127.0.0.1 admitted by the event socket ACL")
    for module in ("mod_commands", "mod_dptools", "mod_dialplan_xml", "mod_lua", "mod_avmd",
                   "mod_callcenter", "mod_amd"):  # fmt: skip
        assert checks[f"module {module}"][0] is Status.PASS, module
    assert checks["endpoints"] == (Status.PASS, "mod_sofia, mod_loopback loaded")
    assert checks["flow extension"][0] is Status.PASS
    assert checks["flow script"] == (
        Status.PASS, "/usr/share/freeswitch/scripts/dialer_flow.lua present"
    )  # fmt: skip
    assert checks["max-sessions"] == (Status.PASS, "node 1000 >= configured max_channels 1000")
    assert checks["sessions-per-second"] == (Status.PASS, "node 30 >= configured 30")
    assert checks["queues"] == (Status.PASS, "dialer_q@default configured")
    assert report.summary().endswith("0 failed, 1 skipped: ready for the dialer")


def test_it_only_reads_the_node(sim: Simulator) -> None:
    examine(node_of(sim), node_needs([]), timeout=2)
    lines = [line for conn in sim.commands_received() for line in conn]
    asked = [line for line in lines if line not in ("auth", "exit")]
    assert asked, lines
    assert all(line.startswith("api ") for line in asked), asked
    assert "api fsctl max_sessions" in asked
    assert "api fsctl sps" in asked
    assert sim.switch.limits.max_sessions == 1000
    assert sim.switch.limits.sps == 30
    assert sim.live_connections == 0  # both connections closed


def test_without_mod_amd_it_warns_and_still_passes() -> None:
    sim = start(modules=INSTALLED - {"mod_amd"})
    try:
        report = examine(node_of(sim), node_needs([]), timeout=2)
    finally:
        sim.stop()
    assert by_name(report)["module mod_amd"] == (Status.WARN, AMD_MISSING)
    assert report.exit_code == 0
    assert "1 warning," in report.summary()


def test_without_mod_callcenter_the_module_and_the_queues_fail() -> None:
    sim = start(modules=INSTALLED - {"mod_callcenter"})
    try:
        report = examine(node_of(sim), node_needs([]), timeout=2)
    finally:
        sim.stop()
    assert failed(report) == ["module mod_callcenter", "queues"]
    assert "load mod_callcenter" in by_name(report)["module mod_callcenter"][1]
    assert by_name(report)["queues"][1] == "cannot list the queues: mod_callcenter not loaded"
    assert report.exit_code == 1
    assert report.summary().endswith("NOT ready for the dialer")


def test_a_campaign_without_queues_or_amd_needs_neither_module() -> None:
    sim = start(modules=INSTALLED - {"mod_callcenter", "mod_amd", "mod_avmd"})
    try:
        quiet = campaign_needs(7, config(amd={"enabled": False}))
        report = examine(node_of(sim), quiet, timeout=2)
        with_queue = examine(node_of(sim), campaign_needs(8, config(**SALES)), timeout=2)
    finally:
        sim.stop()
    assert report.ok, report.lines()
    checks = by_name(report)
    assert "module mod_callcenter" not in checks
    assert "module mod_avmd" not in checks
    assert checks["module mod_amd"] == (Status.SKIP, "AMD is off")
    assert checks["queues"] == (Status.SKIP, "no queue used by campaign 7")
    assert failed(with_queue) == ["module mod_avmd", "module mod_callcenter", "queues"]
    assert "machine detection without mod_amd" in by_name(with_queue)["module mod_avmd"][1]


def test_amd_on_a_node_without_mod_amd_needs_mod_avmd() -> None:
    """The flow falls back to avmd alone; a campaign that hangs up on machines then still
    needs mod_avmd, which it would not with mod_amd loaded."""
    hangup = campaign_needs(9, config())
    assert not hangup.avmd
    sim = start(modules=INSTALLED - {"mod_avmd"})
    try:
        with_amd = examine(node_of(sim), hangup, timeout=2)
        switch = sim.switch
        switch.modules = switch.modules - {"mod_amd"}
        without = examine(node_of(sim), hangup, timeout=2)
    finally:
        sim.stop()
    assert with_amd.ok, with_amd.lines()
    assert failed(without) == ["module mod_avmd"]
    assert by_name(without)["module mod_amd"] == (Status.WARN, AMD_MISSING)


def test_without_mod_lua_or_any_endpoint_it_fails() -> None:
    sim = start(modules=INSTALLED - {"mod_lua", "mod_sofia", "mod_loopback"})
    try:
        report = examine(node_of(sim), node_needs([]), timeout=2)
    finally:
        sim.stop()
    assert failed(report) == ["module mod_lua", "endpoints"]


def test_a_node_without_the_flow_extension_fails(sim: Simulator) -> None:
    introspect.configure(sim.switch, extensions={"9664"})
    report = examine(node_of(sim), node_needs([]), timeout=2)
    assert failed(report) == ["flow extension"]
    _status, detail = by_name(report)["flow extension"]
    assert detail.startswith("dialer_flow not in dialplan context default: copy freeswitch/")
    assert report.exit_code == 1


def test_a_node_without_the_flow_script_fails(sim: Simulator) -> None:
    introspect.configure(sim.switch, scripts=set())
    report = examine(node_of(sim), node_needs([]), timeout=2)
    assert failed(report) == ["flow script"]
    assert "dialer_flow.lua missing" in by_name(report)["flow script"][1]


def test_limits_below_the_configured_ones_fail() -> None:
    sim = start(max_sessions=100, sessions_per_second=10)
    try:
        report = examine(
            node_of(sim, max_channels=200, sessions_per_second=12.5), node_needs([]), timeout=2
        )
        enough = examine(node_of(sim, max_channels=100, sessions_per_second=10), node_needs([]))
    finally:
        sim.stop()
    assert failed(report) == ["max-sessions", "sessions-per-second"]
    checks = by_name(report)
    assert checks["max-sessions"][1].startswith("node 100 < configured max_channels 200: ")
    assert checks["sessions-per-second"][1].startswith("node 10 < configured 12.5: ")
    assert enough.ok, enough.lines()


def test_a_campaign_queue_missing_on_the_node_fails_and_says_whose(sim: Simulator) -> None:
    needs = node_needs([(3, config(**SALES))])
    report = examine(node_of(sim), needs, timeout=2)
    assert failed(report) == ["queues"]
    assert by_name(report)["queues"][1].startswith("missing: sales@default (campaign 3): ")
    introspect.configure(sim.switch, queues=["dialer_q@default", "sales@default"])
    again = examine(node_of(sim), needs, timeout=2)
    assert by_name(again)["queues"] == (Status.PASS, "dialer_q@default, sales@default configured")
    introspect.configure(sim.switch, queues=["sales@default"])
    default_gone = examine(node_of(sim), needs, timeout=2)
    assert by_name(default_gone)["queues"][1].startswith(
        "missing: dialer_q@default (the default handoff target): "
    )


def test_a_wrong_password_fails_the_connection_but_not_the_acl(sim: Simulator) -> None:
    report = examine(node_of(sim, password="nope"), node_needs([]), timeout=2)
    checks = by_name(report)
    assert checks["esl connection"][0] is Status.FAIL
    assert "authentication failed (-ERR invalid)" in checks["esl connection"][1]
    assert checks["esl acl"][0] is Status.PASS
    assert len(report.checks) == 2  # nothing else could be asked
    assert report.exit_code == 1


def test_an_address_outside_the_acl_is_named() -> None:
    sim = start(acl=["10.0.0.0/8"])
    try:
        report = examine(node_of(sim), node_needs([]), timeout=2)
    finally:
        sim.stop()
    checks = by_name(report)
    assert checks["esl connection"] == (
        Status.FAIL, f"127.0.0.1:{sim.address[1]}: refused before authentication"
    )  # fmt: skip
    assert checks["esl acl"][0] is Status.FAIL
    assert checks["esl acl"][1].startswith(
        "127.0.0.1 refused by the event socket ACL (Access Denied, go away.): add it"
    )
    assert report.exit_code == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_port_fails_the_connection() -> None:
    node = NodeConfig(name="fs1", host="127.0.0.1", port=free_port())
    report = examine(node, node_needs([]), timeout=1)
    checks = by_name(report)
    assert checks["esl connection"][0] is Status.FAIL
    assert "cannot connect from 127.0.0.1: connection refused" in checks["esl connection"][1]
    assert checks["esl acl"] == (Status.SKIP, "not reached")
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("overrides", "wanted"),
    [
        ({}, (False, False, True, False)),  # AMD hangs up on machines: no beep wanted
        ({"amd": {"enabled": False}}, (False, False, False, False)),
        ({"amd": {"on_machine": "voicemail"}, "message": "https://x.example/v.wav"},
         (False, True, True, True)),
        (SALES, (True, False, True, False)),
    ],
)  # fmt: skip
def test_a_campaign_needs_what_its_configuration_uses(
    overrides: dict[str, object], wanted: tuple[bool, bool, bool, bool]
) -> None:
    """(mod_callcenter, mod_avmd, mod_amd, mod_httapi) wanted."""
    needs = campaign_needs(5, config(**overrides))
    assert (needs.callcenter, needs.avmd, needs.amd, needs.url_prompts) == wanted
    assert list(needs.queues) == (["sales@default"] if needs.callcenter else [])


def test_the_node_scope_needs_everything_and_every_queue() -> None:
    needs = node_needs([(1, config(**SALES)), (2, config(**SALES)), (3, config())])
    assert (needs.callcenter, needs.avmd, needs.amd, needs.url_prompts) == (
        True, True, True, False
    )  # fmt: skip
    assert dict(needs.queues) == {
        "dialer_q@default": ("the default handoff target",),
        "sales@default": ("campaign 1", "campaign 2"),
    }


def test_a_node_that_stops_answering_keeps_the_answers_already_had(sim: Simulator) -> None:
    sim.faults.silence("api")
    report = examine(node_of(sim), node_needs([]), timeout=0.5)
    assert [c.name for c in report.checks] == ["esl connection", "esl acl", "esl session"]
    assert report.checks[0].status is Status.PASS
    assert report.checks[2].status is Status.FAIL
    assert report.checks[2].detail.startswith("the checks stopped: ")
    assert report.exit_code == 1


def serve(reply: bytes) -> StreamServer:
    """A TCP port that says ``reply`` (nothing if empty, and then keeps quiet) and hangs up."""

    def handle(sock: socket.socket, _address: object) -> None:
        if reply:
            sock.sendall(reply)
        else:
            gevent.sleep(5)
        sock.close()

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    return server


def test_a_port_that_is_not_an_event_socket_fails() -> None:
    quiet, http = serve(b""), serve(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    try:
        silent = examine(NodeConfig(name="fs1", host="127.0.0.1", port=quiet.server_port),
                         node_needs([]), timeout=0.3)  # fmt: skip
        web = examine(NodeConfig(name="fs1", host="127.0.0.1", port=http.server_port),
                      node_needs([]), timeout=1)  # fmt: skip
    finally:
        quiet.stop()
        http.stop()
    assert silent.checks[0].status is Status.FAIL
    assert ": timed out (is mod_event_socket" in silent.checks[0].detail
    assert web.checks[0].status is Status.FAIL
    assert web.checks[0].detail.endswith(": not an event socket ('')")
    assert (web.checks[1].name, web.checks[1].status) == ("esl acl", Status.SKIP)


def test_a_version_before_1_10_fails() -> None:
    old = _version(lambda line: "FreeSWITCH Version 1.8.7-release+git~20190702T200609Z 64bit")
    assert (old.status, old.detail) == (
        Status.FAIL, "FreeSWITCH 1.8.7: 1.10 or later is required"
    )  # fmt: skip
    assert _version(lambda line: "-ERR version Command not found!\n").status is Status.FAIL
