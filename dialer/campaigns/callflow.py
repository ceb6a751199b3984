"""The campaign's call-flow sections: ``amd``, ``message``, ``ivr``, ``queues``, ``agents``,
``handoff``, ``recording`` (DESIGN §7, issue 8).

Every value here ends up in a channel variable that the shipped flow expands into an
application's arguments (``play_and_get_digits``, ``transfer``, ``bridge``), so the rules are
stricter than "text": a sound path is one blank-free word the originate builder carries as it
is (no ``b64:`` form the switch could not play), a target is a plain dial word.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)

from dialer.ai.catalog import OWNED_TOOLS
from dialer.ai.templating import TemplateError
from dialer.ai.templating import check as template_check
from dialer.esl.originate import stored_form

MAX_SOUND_PATH = 400
# One word for play_and_get_digits and playback: no blank, comma, quote, backslash, brace,
# ``$`` (variable expansion), ``%`` (the plain-event quirk), ``!`` (file_string separator),
# ``;`` / ``(`` (tone_stream and &app syntax).
_SOUND = re.compile(r"[A-Za-z0-9_\-./:@+=?&]+")
_QUEUE_TARGET = re.compile(r"[A-Za-z0-9_.-]+(@[A-Za-z0-9_.-]+)?")
_EXTENSION = re.compile(r"[A-Za-z0-9_+*#.-]+(@[A-Za-z0-9_.-]+)?")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
_FIELD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
_CODEC = re.compile(r"[A-Za-z0-9.@]{1,32}")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
#: what an agent's dial template may name; both are generated values (a uuid, an integer)
AGENT_PLACEHOLDERS = frozenset({"attempt_id", "campaign_id"})
_DIAL_LITERAL = re.compile(r"[A-Za-z0-9_.+*#@:/;=-]+")
_ENTERPRISE_SEPARATOR = ":_:"


def sound_path(value: str) -> str:
    """A sound file relative to the node's sound directory, absolute, or a URL/stream word."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_SOUND_PATH:
        raise ValueError(f"must be at most {MAX_SOUND_PATH} characters")
    if any(not c.isprintable() for c in value):
        raise ValueError("must not contain control characters or newlines")
    if not _SOUND.fullmatch(value) or _ENTERPRISE_SEPARATOR in value:
        bad = sorted({c for c in value if not _SOUND.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad) if bad else repr(_ENTERPRISE_SEPARATOR)
        raise ValueError(
            f"{shown} cannot be carried to the switch in a sound path "
            "(use letters, digits and - _ . / : @ + = ? &; no blanks, commas or quotes)"
        )
    if ".." in value.split("/"):
        raise ValueError("must not climb out of the sound directory with '..'")
    if stored_form(value) != value:  # the builder would encode it: the switch could not play it
        raise ValueError("cannot be carried to the switch as it is")
    return value


SoundPath = Annotated[StrictStr, AfterValidator(sound_path)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnMachine(StrEnum):
    HANGUP = "hangup"
    VOICEMAIL = "voicemail"


class AmdSettings(_Strict):
    """mod_amd's own parameters (its ``amd.conf`` names and defaults), in ms except two."""

    silence_threshold: StrictInt = Field(default=256, ge=1, le=32767, description="Mean |sample|.")
    initial_silence: StrictInt = Field(default=2500, ge=100, le=60_000)
    greeting: StrictInt = Field(default=1500, ge=100, le=60_000)
    after_greeting_silence: StrictInt = Field(default=800, ge=20, le=60_000)
    total_analysis_time: StrictInt = Field(default=5000, ge=500, le=60_000)
    min_word_length: StrictInt = Field(default=100, ge=20, le=60_000)
    between_words_silence: StrictInt = Field(default=50, ge=20, le=60_000)
    maximum_number_of_words: StrictInt = Field(default=3, ge=1, le=100, description="Words.")
    maximum_word_length: StrictInt = Field(default=5000, ge=100, le=60_000)

    def arguments(self) -> str:
        """``name=value`` words in mod_amd's argument syntax (forks that read arguments), for
        the settings that differ from mod_amd's defaults: the rest is the node's ``amd.conf``
        (and every call's originate stays short)."""
        defaults = type(self).model_fields
        return " ".join(
            f"{name}={value}"
            for name, value in self.model_dump().items()
            if value != defaults[name].default
        )


class Amd(_Strict):
    enabled: StrictBool = True
    on_machine: OnMachine = OnMachine.HANGUP
    voicemail_message: SoundPath | None = Field(
        default=None, description="Left after the beep; the campaign's message when unset."
    )
    settings: AmdSettings = Field(default_factory=AmdSettings)


class ActionKind(StrEnum):
    QUEUE = "queue"
    EXTENSION = "extension"
    AI_AGENT = "ai_agent"
    REPLAY = "replay"
    OPT_OUT = "opt_out"


def _queue_target(value: str) -> str:
    if not _QUEUE_TARGET.fullmatch(value) or len(value) > 128:
        raise ValueError("must be a mod_callcenter queue name like sales@default")
    return value


def _extension(value: str) -> str:
    if not _EXTENSION.fullmatch(value) or len(value) > 128:
        raise ValueError("must be an extension like 1000 or 1000@default (context)")
    return value


def _ident(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError("must be 1-40 letters, digits, - or _ (starting with a letter or digit)")
    return value


Ident = Annotated[StrictStr, AfterValidator(_ident)]


class Handoff(_Strict):
    """Where a human goes: exactly one of a queue id, an extension, an AI agent id."""

    queue: Ident | None = None
    extension: Annotated[StrictStr, AfterValidator(_extension)] | None = None
    ai_agent: Ident | None = None

    @model_validator(mode="after")
    def _one(self) -> Handoff:
        given = [k for k in ("queue", "extension", "ai_agent") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("must name exactly one of queue, extension, ai_agent")
        return self

    @property
    def kind(self) -> ActionKind:
        if self.queue is not None:
            return ActionKind.QUEUE
        return ActionKind.EXTENSION if self.extension is not None else ActionKind.AI_AGENT


class SimpleAction(StrEnum):
    REPLAY = "replay"
    OPT_OUT = "opt_out"


#: union tags; :func:`dialer.campaigns.model.validation_problems` leaves them out of paths
ACTION_TAGS = ("action-name", "action-mapping")


def _action_kind(value: object) -> str | None:
    if isinstance(value, str | SimpleAction):
        return ACTION_TAGS[0]
    if isinstance(value, dict | Handoff):
        return ACTION_TAGS[1]
    return None


IvrAction = Annotated[
    Annotated[SimpleAction, Tag(ACTION_TAGS[0])] | Annotated[Handoff, Tag(ACTION_TAGS[1])],
    Discriminator(
        _action_kind,
        custom_error_type="action_type",
        custom_error_message="must be replay, opt_out or a mapping {queue|extension|ai_agent: ...}",
    ),
]


def _digits(value: str) -> str:
    if not value or not value.isascii() or not value.isdigit():
        raise ValueError("must be digits 0-9 (# ends the input, * is not offered)")
    if len(set(value)) != len(value):
        raise ValueError("must not repeat a digit")
    return value


class Ivr(_Strict):
    digits: Annotated[StrictStr, AfterValidator(_digits)] | None = Field(
        default=None, description="Valid digits; the actions' digits when unset."
    )
    tries: StrictInt = Field(default=3, ge=1, le=10)
    timeout: StrictInt = Field(default=4, ge=1, le=60, description="Seconds per try.")
    invalid_message: SoundPath | None = None
    opt_out_message: SoundPath | None = Field(default=None, description="Played after opt_out.")
    actions: dict[str, IvrAction] = Field(min_length=1)

    @field_validator("actions")
    @classmethod
    def _action_digits(cls, value: dict[str, IvrAction]) -> dict[str, IvrAction]:
        for digit in value:
            if len(digit) != 1 or digit not in "0123456789":
                raise ValueError(f"{digit!r} is not one digit 0-9")
        return value

    @model_validator(mode="after")
    def _digits_match(self) -> Ivr:
        if self.digits is None:
            return self
        missing = [d for d in self.actions if d not in self.digits]
        if missing:
            raise ValueError(f"actions for {', '.join(missing)} not in digits {self.digits!r}")
        idle = [d for d in self.digits if d not in self.actions]
        if idle:
            raise ValueError(f"digits {', '.join(idle)} have no action")
        return self

    @property
    def valid_digits(self) -> str:
        return self.digits if self.digits is not None else "".join(self.actions)


def _printable(value: str) -> str:
    if not value.strip() or any(not c.isprintable() for c in value):
        raise ValueError("must be non-empty printable text")
    return value


class Queue(_Strict):
    name: Annotated[StrictStr, AfterValidator(_printable)] | None = Field(
        default=None, max_length=200, description="Shown in reports."
    )
    target: Annotated[StrictStr, AfterValidator(_queue_target)]
    max_wait: StrictInt = Field(default=30, ge=1, le=3600, description="Seconds in the queue.")


def _dial_template(value: str) -> str:
    names = _PLACEHOLDER.findall(value)
    unknown = sorted(set(names) - AGENT_PLACEHOLDERS)
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in sorted(AGENT_PLACEHOLDERS))
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} (allowed: {allowed})")
    literal = _PLACEHOLDER.sub("x", value)
    if "/" not in literal or not _DIAL_LITERAL.fullmatch(literal) or len(value) > 256:
        raise ValueError(
            "must be a dial string like sofia/external/sip:bot@ai.example.com "
            "(letters, digits and _ . + * # @ : / ; = -, no blanks, commas, quotes or braces "
            "other than the placeholders)"
        )
    if _ENTERPRISE_SEPARATOR in literal:
        raise ValueError(f"must not contain {_ENTERPRISE_SEPARATOR!r}")
    sample = value.replace("{attempt_id}", "0" * 8 + "-0000-0000-0000-" + "0" * 12)
    sample = sample.replace("{campaign_id}", "1")
    if stored_form(sample) != sample:  # e.g. a leading "b64:": the switch would get it encoded
        raise ValueError("cannot be carried to the switch as it is")
    return value


def _codec(value: str) -> str:
    if not _CODEC.fullmatch(value):
        raise ValueError("must be one codec name like PCMU, PCMA or G722 (no commas)")
    return value


def _field_name(value: str) -> str:
    if not _FIELD.fullmatch(value):
        raise ValueError("field names must be 1-40 letters, digits, - or _")
    return value


_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")
MAX_TOOLS = 50


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


def _tool_name(value: str) -> str:
    if not _TOOL_NAME.fullmatch(value):
        raise ValueError("must be 1-64 letters, digits or _ (starting with a letter or _)")
    if value in OWNED_TOOLS:
        raise ValueError(
            f"{value} is a built-in tool of the dialer; give yours another name "
            f"(built-in: {', '.join(sorted(OWNED_TOOLS))})"
        )
    return value


def _endpoint(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    if not sep or scheme not in ("http", "https") or not host or len(value) > 2000:
        raise ValueError("must be an http:// or https:// URL like https://crm.example.com/api")
    if "{{" in host or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("must have a fixed host (placeholders only in the path) and no blanks")
    return value


class Tool(_Strict):
    """A customer-defined tool (the seeds' shape): the agent calls it with ``parameters``-shaped
    arguments, the dialer calls ``api_endpoint`` with the rendered request (dialer.ai)."""

    name: Annotated[StrictStr, AfterValidator(_tool_name)]
    description: StrictStr = Field(default="", max_length=2000)
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON schema of the arguments (an object schema).",
    )
    api_endpoint: Annotated[StrictStr, AfterValidator(_endpoint)]
    http_method: HttpMethod = HttpMethod.POST
    headers: dict[str, StrictStr] = Field(default_factory=dict, max_length=30)
    query_params: dict[str, StrictStr] = Field(default_factory=dict, max_length=50)
    body_template: dict[str, Any] | None = None

    @field_validator("http_method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path)
            raise ValueError(
                f"not a valid JSON schema{f' at {where}' if where else ''}: {exc.message}"
            ) from None
        if value.get("type") != "object":
            raise ValueError('must be an object schema ("type": "object", "properties": ...)')
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if any(not c.isprintable() for c in text):
                raise ValueError(f"{name}: must be one line of printable text")
        return value

    @model_validator(mode="after")
    def _placeholders(self) -> Tool:
        names = self.parameter_names
        parts: list[tuple[str, object]] = [
            ("api_endpoint", self.api_endpoint),
            ("headers", self.headers),
            ("query_params", self.query_params),
            ("body_template", self.body_template),
        ]
        for where, part in parts:
            try:
                template_check(part, names)
            except TemplateError as exc:
                raise ValueError(f"{where}: {exc}") from None
        return self

    @property
    def parameter_names(self) -> frozenset[str]:
        properties = self.parameters.get("properties")
        return frozenset(properties) if isinstance(properties, dict) else frozenset()


class Agent(_Strict):
    """An AI voice agent endpoint: where to bridge, and what context to send as X- headers."""

    dial: Annotated[StrictStr, AfterValidator(_dial_template)]
    fields: list[Annotated[StrictStr, AfterValidator(_field_name)]] = Field(
        default_factory=list, max_length=20, description="Custom fields sent as X- headers."
    )
    codec: Annotated[StrictStr, AfterValidator(_codec)] = Field(
        default="PCMU", description="absolute_codec_string of the bridge (capture 17x)."
    )
    transfer_queue: Ident | None = Field(
        default=None, description="The queue transfer_to_human moves the call into."
    )
    tools: list[Tool] = Field(
        default_factory=list, max_length=MAX_TOOLS, description="Customer-defined tools."
    )

    @field_validator("fields")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len({v.lower() for v in value}) != len(value):
            raise ValueError("must not name a field twice")
        return value

    @field_validator("tools")
    @classmethod
    def _distinct_tools(cls, value: list[Tool]) -> list[Tool]:
        names = [tool.name for tool in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"tool {twice[0]!r} is defined twice")
        return value

    def tool(self, name: str) -> Tool | None:
        return next((tool for tool in self.tools if tool.name == name), None)


class Recording(_Strict):
    enabled: StrictBool = False
