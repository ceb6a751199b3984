"""``dialer api`` starts the HTTP app under uvicorn and answers on the port it was given."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dialer", "api", *args],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_dialer_api_serves_healthz_and_the_tools_webhook(
    postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "DIALER_DATABASE_URL": postgres_url, "DIALER_AI_TOOLS_KEYS": "k1"}
    proc = start(["--host", "127.0.0.1", "--port", str(port), "--workers", "2"], env, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "dialer api did not answer"
                time.sleep(0.1)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        refused = httpx.post(f"http://127.0.0.1:{port}/ai/tools", json={},
                             headers={"Authorization": "Bearer nope"})  # fmt: skip
        assert refused.status_code == 401
        unknown = httpx.post(
            f"http://127.0.0.1:{port}/ai/tools",
            json={"function": "end_call", "args": {}, "call_id": "x"},
            headers={"Authorization": "Bearer k1"},
        )
        assert (unknown.status_code, unknown.json()["message"]) == (404, "unknown call 'x'")
        missing = httpx.get(f"http://127.0.0.1:{port}/nowhere")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["status"] == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "Traceback" not in out


def test_dialer_api_on_a_taken_port_fails_with_a_clear_error(
    postgres_url: str, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "DIALER_DATABASE_URL": postgres_url}
        proc = start(["--port", str(port)], env, tmp_path)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "Traceback" not in out
    assert str(port) in out
