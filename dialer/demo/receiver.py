"""The demo's webhook receiver: a CRM stand-in on 127.0.0.1 that verifies every signature.

A stdlib ``ThreadingHTTPServer`` on a random port, in a process of its own (as a CRM is): the
demo's one gevent process is busy with the campaign, and a receiver sharing it answered in
hundreds of milliseconds while the calls ran; apart, it has the machine's other core.

Every ``POST`` is checked with the ``standardwebhooks`` library, as a customer's receiver
would: a valid one is answered ``204`` and appended to the JSON-lines file as ``{"webhook_id",
"event", "verified": true, "received_at", "payload"}``; a bad or missing signature is answered
``401`` and never written.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

#: Larger bodies are refused before they are read (an event is a few KiB).
MAX_BODY = 1 << 20


class WebhookReceiver:
    """:meth:`start`, register :attr:`url` and give its secret to :meth:`trust`; :meth:`stop`
    at the end. Until it trusts a secret every request is refused. The server runs in a child
    process (``python -m dialer.demo.receiver``, :class:`LocalReceiver` there); the counts
    come back on its stdout."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._received = self._verified = self._rejected = 0
        self._by_event: Counter[str] = Counter()
        self._url = ""
        self._child: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        assert self._url, "start() first"
        return self._url

    def start(self) -> WebhookReceiver:
        # a fresh interpreter (no gevent, nothing of the demo's process but this module)
        self._child = subprocess.Popen(
            [sys.executable, "-m", "dialer.demo.receiver", str(self.path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self._url = self._ask(None)
        return self

    def trust(self, secret: str) -> None:
        self._ask(f"trust {secret}")

    def stop(self) -> None:
        if self._child is None:
            return
        self._take(self._ask("stop"))
        self._child.wait(timeout=10)
        self._child = None

    @property
    def received(self) -> int:
        self._refresh()
        return self._received

    @property
    def verified(self) -> int:
        self._refresh()
        return self._verified

    @property
    def rejected(self) -> int:
        self._refresh()
        return self._rejected

    @property
    def by_event(self) -> Counter[str]:
        self._refresh()
        return Counter(self._by_event)

    def _refresh(self) -> None:
        if self._child is not None:
            self._take(self._ask("stats"))

    def _take(self, stats: Any) -> None:
        self._received, self._verified, self._rejected, by_event = stats
        self._by_event = Counter(by_event)

    def _ask(self, line: str | None) -> Any:
        child = self._child
        assert child is not None
        assert child.stdin is not None
        assert child.stdout is not None
        if line is not None:
            child.stdin.write(line + "\n")
            child.stdin.flush()
        answer = child.stdout.readline()
        if not answer:
            raise RuntimeError("the demo's webhook receiver exited")
        return json.loads(answer)


def _serve(path: str) -> None:
    """The child: serve until told to stop; answer the parent's questions on stdin/stdout."""
    receiver = LocalReceiver(Path(path)).start()
    print(json.dumps(receiver.url), flush=True)
    for line in sys.stdin:
        word, _, arg = line.strip().partition(" ")
        if word == "trust":
            receiver.trust(arg)
            print("true", flush=True)
            continue
        if word == "stop":
            receiver.stop()
        with receiver._lock:
            stats = (receiver.received, receiver.verified, receiver.rejected,
                     dict(receiver.by_event))  # fmt: skip
        print(json.dumps(stats), flush=True)
        if word == "stop":
            return
    receiver.stop()  # the parent went away


class LocalReceiver:
    """The server itself, served from a thread of the process that starts it."""

    def __init__(self, path: Path) -> None:
        self.webhook: Webhook | None = None
        self.path = path
        self.received = 0
        self.verified = 0
        self.rejected = 0
        self.by_event: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._out: IO[str] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks"

    def start(self) -> LocalReceiver:
        self._out = self.path.open("w", encoding="utf-8")
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def trust(self, secret: str) -> None:
        """Verify with ``secret`` (a ``whsec_`` key, as :func:`add_endpoint` returns it)."""
        self.webhook = Webhook(secret)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            if self._out is not None:
                self._out.close()
                self._out = None

    def accept(self, body: bytes, headers: dict[str, str]) -> int:
        """The HTTP status for one delivery; a verified one is written first."""
        with self._lock:
            self.received += 1
        try:
            if self.webhook is None:
                raise WebhookVerificationError("no secret yet")
            self.webhook.verify(body, headers)
            event = json.loads(body)
        except (WebhookVerificationError, ValueError):
            with self._lock:
                self.rejected += 1
            return 401
        kind = str(event.get("event", "")) if isinstance(event, dict) else ""
        line = {
            "webhook_id": headers.get("webhook-id"),
            "event": kind,
            "verified": True,
            "received_at": datetime.now(UTC).isoformat(),
            "payload": event,
        }
        with self._lock:
            if self._out is None:  # stopped: the sender will try again
                return 503
            self._out.write(json.dumps(line, separators=(",", ":")) + "\n")
            self.verified += 1
            self.by_event[kind] += 1
        return 204


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # the sender opens a connection per concurrent delivery: the stdlib's backlog of 5 would
    # reset the rest while the first are being read
    request_queue_size = 256


def _handler(receiver: LocalReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the sender reuses its connection

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0 or length > MAX_BODY:
                self._answer(413)
                return
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            self._answer(receiver.accept(body, headers))

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo's display is the log."""

    return Handler


if __name__ == "__main__":
    _serve(sys.argv[1])
