"""The ``originate`` command: dial string from a per-trunk template, channel variables in
``{…}`` escaped so that no value can add a variable or end the block.

How FreeSWITCH 1.10.12 reads ``originate {a=1,b=2}endpoint app`` (measured, fixtures README
"Originate variable escaping"): the API first splits its arguments on spaces, honouring and
then dropping single quotes; the first ``}`` ends the variable block, quoted or not; the block
is split on every comma unless backslash-escaped (even inside quotes); each part is split at
its first ``=``. So:

* a comma is carried as ``\\,``; a value with a space is single-quoted;
* quote characters, backslashes, ``{}`` and control characters cannot be carried as such,
  leading/trailing spaces are trimmed, an empty value sets nothing, and a stored ``%XX``
  would be decoded by every plain-format event reader (the ``%XX`` quirk);
* every value that is not plainly carryable is therefore stored as ``b64:`` + URL-safe
  base64 of its UTF-8 bytes (no padding). ``decode_variable`` undoes it. A value that itself
  starts with ``b64:`` is encoded too, so decoding is never ambiguous.

Values are user data (names, custom fields, DESIGN §7): nothing reaches the dial string raw.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
import unicodedata
import uuid as uuid_module
from collections.abc import Mapping
from dataclasses import dataclass, field

ENCODED_PREFIX = "b64:"
VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]+")

# ASCII that FreeSWITCH stored verbatim in the measurements (08c ``x_specials`` and the
# escaping table), minus anything with a meaning elsewhere: ``%`` (plain-format quirk),
# ``$`` (variable expansion), quotes, backslash, braces.
_SAFE_ASCII = frozenset(string.ascii_letters + string.digits + "-_./()+&=?#:;@<>[]^`|")
_ENTERPRISE_SEPARATOR = ":_:"  # would turn the dial string into an enterprise originate
# Dial-string parts substituted into a template (numbers, gateway names, hosts).
_DIAL_PART = re.compile(r"[A-Za-z0-9_.+*#@:-]+")
# FreeSWITCH ends an ``&app(arg)`` argument at its first ``)`` (originate_function), so an
# argument holding a parenthesis would be cut short: refused.
_APP = re.compile(r"&[A-Za-z0-9_]+(\([^\s'\"{}\\()]*\))?")
_WORD = re.compile(r"[A-Za-z0-9_.+*#@:-]+")
_NOT_IN_DIAL = frozenset(" \t\r\n{},'\"\\$")

RESERVED = frozenset(
    {
        "origination_uuid",
        "originate_timeout",
        "ignore_early_media",
        "origination_caller_id_number",
        "origination_caller_id_name",
    }
)


def _carryable(value: str) -> bool:
    if not value or value.startswith(ENCODED_PREFIX):
        return False
    if value[0] == " " or value[-1] == " " or "  " in value or _ENTERPRISE_SEPARATOR in value:
        return False
    for char in value:
        if char in _SAFE_ASCII or char in ", ":
            continue
        if ord(char) < 0x80 or not char.isprintable() or unicodedata.category(char) == "Cs":
            return False
    return True


def stored_form(value: str) -> str:
    """What FreeSWITCH will hold in the channel variable for ``value``."""
    if _carryable(value):
        return value
    raw = value.encode("utf-8", "surrogatepass")
    return ENCODED_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def encode_variable(value: str) -> str:
    """The text to write after ``name=`` inside ``{…}``."""
    stored = stored_form(value)
    token = stored.replace(",", "\\,")
    return f"'{token}'" if " " in token else token


def decode_variable(stored: str) -> str:
    """Inverse of ``stored_form``: the original value from a channel variable's value."""
    if not stored.startswith(ENCODED_PREFIX):
        return stored
    payload = stored[len(ENCODED_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        return raw.decode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError):
        return stored  # not ours: leave it as FreeSWITCH gave it


def variable_block(variables: Mapping[str, str]) -> str:
    """``{name=value,...}`` with names checked and values encoded."""
    parts = []
    for name, value in variables.items():
        if not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"channel variable name must match [A-Za-z0-9_]+: {name!r}")
        parts.append(f"{name}={encode_variable(value)}")
    return "{" + ",".join(parts) + "}"


def sanitize_caller_id_name(name: str, max_length: int = 50) -> str:
    """A display name the callee's phone can show: lossy on purpose (no ``b64:`` on screens).
    Keeps carryable characters, folds runs of blanks; empty when nothing is left."""
    folded = unicodedata.normalize("NFC", name)
    kept = "".join(c if _carryable(c) or c == " " else " " for c in folded)
    return " ".join(kept.split())[:max_length].strip()


@dataclass(frozen=True)
class DialTemplate:
    """Per-trunk dial string, e.g. ``sofia/gateway/{gateway}/{number}`` with
    ``params={"gateway": "carrier1"}``, or ``loopback/{number}/{context}`` in a lab."""

    template: str
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Braces may appear only as {placeholders}; the rest is checked like a dial string.
        literal = re.sub(r"\{[a-z_]+\}", "", self.template)
        if "{number}" not in self.template or any(c in literal for c in _NOT_IN_DIAL):
            raise ValueError(f"bad dial template {self.template!r}")

    def render(self, number: str) -> str:
        values = {**self.params, "number": number}
        for key, value in values.items():
            if not _DIAL_PART.fullmatch(value):
                raise ValueError(f"dial string part {key}={value!r} has unsafe characters")
        try:
            return self.template.format(**values)
        except KeyError as exc:
            raise ValueError(f"dial template needs {exc.args[0]!r}") from None


def _check_application(application: str) -> str:
    words = application.split(" ")
    if _APP.fullmatch(words[0]) and len(words) == 1:
        return application
    if not words[0].startswith("&") and 1 <= len(words) <= 3 and all(map(_WORD.fullmatch, words)):
        return application  # "extension [dialplan [context]]", e.g. "dialer_flow XML default"
    raise ValueError(f"bad originate application {application!r}")


def check_attempt_id(attempt_id: str) -> str:
    """An attempt id is a canonical uuid: lowercase, dashed, nothing around it. The same value
    is the database key, the A-leg uuid and the Job-UUID, so any other spelling of the same
    uuid (``urn:uuid:``, upper case, no dashes, braces) would break their correlation."""
    try:
        canonical = str(uuid_module.UUID(attempt_id))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"attempt id is not a UUID: {attempt_id!r}") from None
    if attempt_id != canonical:
        raise ValueError(
            f"attempt id must be a lowercase dashed UUID ({canonical}): {attempt_id!r}"
        )
    return attempt_id


@dataclass(frozen=True)
class Originate:
    """One originate. ``attempt_id`` is the A-leg uuid and the bgapi Job-UUID (DESIGN §6)."""

    attempt_id: str
    dial_string: str
    caller_id_number: str
    caller_id_name: str = ""
    timeout_seconds: int = 30
    application: str = "&park"
    variables: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_attempt_id(self.attempt_id)
        if not _DIAL_PART.fullmatch(self.caller_id_number):
            raise ValueError(f"bad caller id number {self.caller_id_number!r}")
        if not 1 <= self.timeout_seconds <= 3600:
            raise ValueError("originate timeout must be 1..3600 seconds")
        if not self.dial_string or any(c in self.dial_string for c in _NOT_IN_DIAL):
            raise ValueError(f"bad dial string {self.dial_string!r}")
        _check_application(self.application)
        clash = RESERVED & set(self.variables)
        if clash:
            raise ValueError(f"variables set by the builder itself: {sorted(clash)}")

    def all_variables(self) -> dict[str, str]:
        # The order of the captured originates (fixtures 02..09): uuid, ours, then the rest.
        variables = {"origination_uuid": self.attempt_id, **self.variables}
        variables["originate_timeout"] = str(self.timeout_seconds)
        variables["ignore_early_media"] = "true"
        variables["origination_caller_id_number"] = self.caller_id_number
        name = sanitize_caller_id_name(self.caller_id_name)
        if name:
            variables["origination_caller_id_name"] = name
        return variables

    def command(self) -> str:
        """The ``originate`` API argument line (send with ``bgapi``)."""
        return (
            f"originate {variable_block(self.all_variables())}{self.dial_string} {self.application}"
        )


def build_originate(
    *,
    attempt_id: str,
    number: str,
    template: DialTemplate,
    caller_id_number: str,
    caller_id_name: str = "",
    timeout_seconds: int = 30,
    application: str = "&park",
    variables: Mapping[str, str] | None = None,
) -> Originate:
    return Originate(
        attempt_id=attempt_id,
        dial_string=template.render(number),
        caller_id_number=caller_id_number,
        caller_id_name=caller_id_name,
        timeout_seconds=timeout_seconds,
        application=application,
        variables=dict(variables or {}),
    )
