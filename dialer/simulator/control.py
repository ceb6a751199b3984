"""What moves a call: commands the connections queue for it, and the hangup signal."""

from __future__ import annotations

from dataclasses import dataclass, field


class Hangup(Exception):  # noqa: N818 - a control-flow signal, not an error
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass
class Command:
    kind: str  # "kill" | "execute" | "transfer"
    cause: str = "NORMAL_CLEARING"
    app: str = ""
    arg: str = ""
    app_uuid: str = ""
    # the sendmsg as read ("Command: sendmsg <uuid>" first): PRIVATE_COMMAND repeats it
    headers: list[tuple[str, str]] = field(default_factory=list)
