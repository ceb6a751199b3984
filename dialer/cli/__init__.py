"""The ``dialer`` console command."""

import sys

# The long-running commands are gevent processes (the ESL adapter, the simulator, psycopg's
# gevent mode): patch before anything imports socket, ssl or threading.
GREEN_COMMANDS = frozenset({"run", "consumer", "demo"})
if len(sys.argv) > 1 and sys.argv[1] in GREEN_COMMANDS:  # pragma: no cover - process start
    from gevent import monkey

    monkey.patch_all()

from dialer.cli.main import app, main  # noqa: E402

__all__ = ["app", "main"]
