"""``uuid_transfer`` of a channel that runs the dialplan flow: a control-flow signal.

FreeSWITCH breaks whatever application the channel runs (a ``bridge`` ends: CHANNEL_UNBRIDGE,
the far leg hangs up), routes the channel again (CHANNEL_STATE ``CS_ROUTING`` then
``CS_EXECUTE``, as in capture 02 after the park) and runs the new extension. The simulated
call raises this from its wait loop and ``flow.run`` routes the same channel again, so the
ledger and every lease see one call throughout.
"""

from __future__ import annotations


class Transfer(Exception):  # noqa: N818 - a control-flow signal, not an error
    def __init__(self, destination: str) -> None:
        super().__init__(destination)
        self.destination = destination  # the extension (``dialer_flow``, ``park_here``, …)
