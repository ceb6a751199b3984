"""``DIALER_FS_NODES`` in the one settings object: default, parsing, errors, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.config import ConfigError, Settings, get_settings
from dialer.fs_nodes import NodeConfig, NodeConfigError, parse_nodes


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DIALER_FS_NODES", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_default_is_the_embedded_simulator() -> None:
    nodes = Settings().nodes
    assert nodes == [NodeConfig(name="fs1", host="127.0.0.1", port=8021)]
    assert nodes[0].password.get_secret_value() == "ClueCon"


def test_nodes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DIALER_FS_NODES",
        "fs1=esl://:s%40cret@10.0.0.5:8022?max_channels=300&sps=15 fs2=esl://10.0.0.6",
    )
    nodes = get_settings().nodes
    assert [(n.name, n.host, n.port) for n in nodes] == [
        ("fs1", "10.0.0.5", 8022),
        ("fs2", "10.0.0.6", 8021),
    ]
    assert nodes[0].password.get_secret_value() == "s@cret"
    assert nodes[0].max_channels == 300
    assert nodes[0].sessions_per_second == 15


def test_json_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_FS_NODES", '{"a": {"host": "h1"}, "b": {"host": "h2", "port": 9}}')
    assert [(n.name, n.host, n.port) for n in get_settings().nodes] == [
        ("a", "h1", 8021),
        ("b", "h2", 9),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("fs1=http://h", "expected esl://"),
        ("fs1", "expected name=esl://"),
        ("fs1=esl://h:99999", "out of range"),
        ("fs1=esl://h:0", "port"),
        ("fs1=esl://h?foo=1", "unknown option"),
        ("a=esl://h1, a=esl://h2", "duplicate"),
        ("[1, 2]", "node #1: expected an object, got a number"),
        ("7", "expected name=esl://"),
        ("[{", "not valid JSON"),
        ('{"fs1": 5}', "node fs1: expected an object, got a number"),
        ('{"fs1": null}', "node fs1: expected an object, got null"),
        ('{"fs1": "esl://h"}', "node fs1: expected an object, got a string"),
        ('[{"name": "a", "host": "h"}, 7]', "node #2: expected an object"),
        ('{"a": {"name": "b", "host": "h"}}', "its key and its name 'b' differ"),
        ('"fs1"', "expected name=esl://"),
        ("fs1=esl://[::1", "node fs1: Invalid IPv6 URL"),
        ("", "no FreeSWITCH node"),
        ("   ", "no FreeSWITCH node"),
    ],
)
def test_bad_value_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv("DIALER_FS_NODES", value)
    with pytest.raises(ConfigError, match="DIALER_FS_NODES") as caught:
        get_settings()
    assert reason in str(caught.value)
    assert "Value error" not in str(caught.value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(value=_json.map(json.dumps) | st.text(max_size=40))
def test_any_value_is_nodes_or_a_clear_error(value: str) -> None:
    """Whatever the variable holds, parsing gives nodes or a NodeConfigError, never a crash."""
    try:
        nodes = parse_nodes(value)
    except NodeConfigError as exc:
        nodes, problem = [], str(exc)
        assert problem.strip(), "an error must say what is wrong"
    assert all(isinstance(node, NodeConfig) for node in nodes)


def test_error_does_not_echo_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_FS_NODES", '[{"name": "a", "password": "t0p-secret"}]')
    with pytest.raises(ConfigError, match="DIALER_FS_NODES: FreeSWITCH node a: host") as caught:
        get_settings()
    assert "t0p-secret" not in str(caught.value)


def test_unvalidated_settings_still_raise_config_error() -> None:
    settings = Settings.model_construct(fs_nodes="nonsense")
    with pytest.raises(ConfigError, match="DIALER_FS_NODES"):
        _ = settings.nodes


def test_cli_reports_bad_nodes_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "list.csv").write_text("phone\n+12025550123\n")
    for value in ("fs1=esl://h:0", '{"fs1": 5}'):
        _assert_cli_reports(tmp_path, value)


def _assert_cli_reports(tmp_path: Path, value: str) -> None:
    env = {"DIALER_FS_NODES": value, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "dialer", "lists", "import", "list.csv", "--name", "t"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "DIALER_FS_NODES" in output
    assert "Traceback" not in output


def test_config_import_stays_light() -> None:
    code = (
        "import sys, dialer.config, dialer.fs_nodes;"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('gevent', 'greenswitch')];"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
