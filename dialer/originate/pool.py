"""One ESL client per node per process, shared by every greenlet of an originate worker."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from dialer.esl.client import ESLClient
from dialer.fs_nodes import NodeConfig


class NodePool:
    """Started lazily: a worker that never originates never connects."""

    def __init__(self, nodes: Sequence[NodeConfig], *, connect_timeout: float = 5.0) -> None:
        if not nodes:
            raise ValueError("no FreeSWITCH node configured")
        self.nodes = {node.name: node for node in nodes}
        self._clients: dict[str, ESLClient] = {}
        self._lock = threading.Lock()
        self._connect_timeout = connect_timeout

    def client(self, name: str) -> ESLClient:
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                # originate results arrive as BACKGROUND_JOB, which the client always
                # subscribes; nothing else is needed on this connection, and of those only
                # this process's own jobs (every listener gets every job's event)
                client = self.nodes[name].client(
                    connect_timeout=self._connect_timeout, own_jobs_only=True
                )
                client.start()
                self._clients[name] = client
        return client

    def start(self, wait: float = 0.0) -> None:
        for name in self.nodes:
            client = self.client(name)
            if wait:
                client.wait_connected(wait)

    def connected(self) -> list[NodeConfig]:
        return [node for name, node in self.nodes.items() if self.client(name).connected]

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
