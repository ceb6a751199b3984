"""The demo's webhook receiver: a CRM stand-in on 127.0.0.1 that verifies every signature.

A stdlib ``ThreadingHTTPServer`` on a random port, served from a thread (a greenlet in a gevent
process, an OS thread otherwise). Every ``POST`` is checked with the ``standardwebhooks``
library, as a customer's receiver would: a valid one is answered ``204`` and appended to the
JSON-lines file as ``{"webhook_id", "event", "verified": true, "received_at", "payload"}``; a bad
or missing signature is answered ``401`` and never written.
"""

from __future__ import annotations

import json
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
    at the end. Until it trusts a secret every request is refused."""

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

    def start(self) -> WebhookReceiver:
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


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
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
