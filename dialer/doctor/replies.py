"""Reading the node's answers: FreeSWITCH 1.10's reply texts, parsed once, here.

Texts (mod_commands.c, mod_callcenter.c; captures 01, 08a):

- ``version``: ``FreeSWITCH Version 1.10.12-release+git~…~64bit (git a88d069 …)``
- ``fsctl max_sessions`` / ``fsctl sps`` without a number only read the setting:
  ``+OK max sessions: 1000`` / ``+OK sessions per second: 30``
- ``xml_locate dialplan context name default``: the context's XML, or ``can't find anything``
- ``callcenter_config queue list``: a ``name|strategy|…`` header, one row per queue, ``+OK``
- a command of a module that is not loaded: ``-ERR <command> Command not found!``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"FreeSWITCH Version (\d+)\.(\d+)(?:\.(\d+))?(\S*)")
_NOT_FOUND = re.compile(r"^-ERR (\S+) Command not found!")
NOT_LOCATED = "can't find anything"


@dataclass(frozen=True)
class Version:
    numbers: tuple[int, int, int]
    text: str  # e.g. "1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit"

    @property
    def short(self) -> str:
        return ".".join(str(n) for n in self.numbers)


def parse_version(reply: str) -> Version | None:
    match = _VERSION.search(reply)
    if match is None:
        return None
    major, minor, patch, rest = match.groups()
    numbers = (int(major), int(minor), int(patch or 0))
    return Version(numbers, ".".join(str(n) for n in numbers) + rest)


def command_missing(reply: str) -> bool:
    """The switch does not know the command (its module is not loaded, or too old)."""
    return _NOT_FOUND.match(reply) is not None


def parse_fsctl(reply: str, label: str) -> int | None:
    """``+OK <label>: <n>`` → n (``label`` is ``max sessions`` or ``sessions per second``)."""
    match = re.match(rf"^\+OK {re.escape(label)}: (-?\d+)\s*$", reply)
    return int(match.group(1)) if match else None


def has_extension(context_xml: str, name: str) -> bool:
    """Whether a located context holds ``<extension name="name">``."""
    pattern = rf"<extension\b[^>]*\bname\s*=\s*(\"{re.escape(name)}\"|'{re.escape(name)}')"
    return re.search(pattern, context_xml) is not None


def parse_queue_list(reply: str) -> list[str] | None:
    """The queue names of ``callcenter_config queue list``; None if the reply is not one."""
    lines = [line for line in reply.splitlines() if line.strip()]
    if lines and lines[0].startswith("+OK"):  # no queue loaded: some builds print no header
        return []
    if not lines or not lines[0].startswith("name|"):
        return None
    names: list[str] = []
    for line in lines[1:]:
        if line.startswith("+OK"):
            break
        names.append(line.split("|", 1)[0])
    return names
