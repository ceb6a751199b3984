"""Parsing ``originate`` arguments the way FreeSWITCH 1.10.12 does (README "Originate variable
escaping", measured on the real switch).

* The arguments are split on spaces outside single quotes; an unquoted space inside ``{…}``
  therefore breaks the dial string → ``-ERR DESTINATION_OUT_OF_ORDER``.
* The first ``}`` ends the variable block, quoted or not.
* Variables are split on commas unless escaped as ``\\,`` (quotes do not protect a comma);
  quote characters are dropped; ``=`` after the first is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dialer.simulator.channel import Dial

KNOWN_TECH = frozenset({"loopback", "sofia", "user", "verto", "freetdm", "error", "null"})


class OriginateError(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass
class Originate:
    variables: dict[str, str]
    dial: Dial
    app: str  # "park", "hangup", or a dialplan extension
    app_arg: str = ""
    dialplan: bool = False  # True when the app part is "<ext> [XML] [context]"
    context: str = "default"
    duplicates: list[str] = field(default_factory=list)
    error_cause: str | None = None  # error/<CAUSE> endpoint


def split_args(text: str) -> list[str]:
    """Split on spaces that are not inside single quotes (quotes kept for the next stage)."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == "'":
            quoted = not quoted
            cur.append(ch)
        elif ch == " " and not quoted:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def parse_variables(block: str) -> dict[str, str]:
    items: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(block):
        ch = block[i]
        if ch == "\\" and i + 1 < len(block) and block[i + 1] == ",":
            cur.append(",")
            i += 2
            continue
        if ch == ",":
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    items.append("".join(cur))
    variables: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            continue  # a field without '=' is dropped
        variables[name.strip().replace("'", "")] = value.replace("'", "")
    return variables


def parse_dial(dial: str) -> Dial:
    dial = dial.split(",")[0].split("|")[0]  # several endpoints: the first is modelled
    tech, slash, rest = dial.partition("/")
    if not slash or tech not in KNOWN_TECH:
        raise OriginateError("CHAN_NOT_IMPLEMENTED")
    if tech == "loopback":
        parts = rest.split("/")
        number = parts[0]
        context = parts[1] if len(parts) > 1 and parts[1] else "default"
        return Dial("loopback", number, context, f"loopback/{number}-a", sessions=2)
    if tech == "sofia":
        parts = rest.split("/")
        if parts[0] == "gateway" and len(parts) >= 3:
            number = parts[2].split("@")[0]
            return Dial("sofia", number, "default", f"sofia/gateway/{parts[1]}/{parts[2]}")
        target = "/".join(parts[1:])
        number = target.removeprefix("sip:").split("@")[0].split(";")[0]
        return Dial("sofia", number, "default", f"sofia/{parts[0]}/{target}")
    number = rest.split("@")[0]
    return Dial(tech, number, "default", f"{tech}/{rest}")


def parse(args: str) -> Originate:
    argv = split_args(args.strip())
    if not argv:
        raise OriginateError("DESTINATION_OUT_OF_ORDER")
    first = argv[0]
    variables: dict[str, str] = {}
    if first.startswith("{"):
        end = first.find("}")
        if end < 0:
            raise OriginateError("DESTINATION_OUT_OF_ORDER")
        variables = parse_variables(first[1:end])
        first = first[end + 1 :]
    if not first:
        raise OriginateError("DESTINATION_OUT_OF_ORDER")
    dial = parse_dial(first)
    error_cause = dial.number.upper() if dial.endpoint == "error" else None
    app_part = argv[1] if len(argv) > 1 else "&park"
    if app_part.startswith("&"):
        name, _, arg = app_part[1:].partition("(")
        return Originate(variables, dial, name, arg.rstrip(")"), error_cause=error_cause)
    context = argv[3] if len(argv) > 3 else "default"
    return Originate(
        variables, dial, app_part, dialplan=True, context=context, error_cause=error_cause
    )
