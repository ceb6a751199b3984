"""The campaign configuration: one typed, validated model for YAML files, JSON and Python.

Unknown keys are errors; every invalid value is reported with its field path
(``pacing.cps: must be > 0``) by :func:`validation_problems`. The call-flow sections (``amd``,
``message``, ``ivr``, ``queues``, ``agents``, ``handoff``, ``recording``) are in
:mod:`dialer.campaigns.callflow`; the rules between them are checked here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from dialer.campaigns.callflow import (
    ACTION_TAGS,
    ActionKind,
    Agent,
    Amd,
    Handoff,
    Ident,
    Ivr,
    OnMachine,
    Queue,
    Recording,
    SoundPath,
)
from dialer.campaigns.schedule import Schedule
from dialer.outcomes import RETRYABLE_OUTCOMES
from dialer.trunks import DEFAULT_TRUNK


class CampaignType(StrEnum):
    BROADCAST = "broadcast"
    PRESS1 = "press1"
    AI_AGENT = "ai_agent"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallerId(_Strict):
    number: str = Field(description="E.164 caller id presented to the callee.")
    name: str | None = Field(default=None, max_length=60)

    @field_validator("number")
    @classmethod
    def _e164(cls, value: str) -> str:
        return valid_e164(value)


def valid_e164(value: str) -> str:
    """``value`` as a valid E.164 number, or a ValueError a user can read."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{value!r} is not an E.164 number (e.g. +12125550100)") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{value!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class Pacing(_Strict):
    max_channels: StrictInt = Field(gt=0, le=100_000, description="Concurrent calls at most.")
    cps: StrictFloat = Field(gt=0, le=1000, description="New calls per second at most.")


class RetryRule(_Strict):
    delay: StrictInt = Field(ge=0, description="Seconds to wait after this outcome.")
    max_attempts: StrictInt = Field(
        ge=1, le=100, description="Attempts in all, the first included."
    )
    backoff: StrictFloat = Field(
        default=1.0, ge=1.0, le=10.0, description="Delay multiplier per try."
    )

    def delay_after(self, attempts_made: int) -> float:
        """Seconds to wait after the ``attempts_made``-th attempt ended with this outcome."""
        return self.delay * self.backoff ** max(0, attempts_made - 1)


DEFAULT_FLOW_TIMEOUT = 120
RetryOutcome = Annotated[str, Field(description="An outcome that may be retried.")]
MetadataValue = StrictStr | StrictInt | StrictFloat | StrictBool | None


class CampaignConfig(_Strict):
    name: str = Field(min_length=1, max_length=200)
    type: CampaignType
    lists: list[int | str] = Field(min_length=1, description="Contact list names or ids.")
    caller_id: CallerId
    trunk: str = Field(default=DEFAULT_TRUNK, pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    pacing: Pacing
    schedule: Schedule = Field(default_factory=Schedule)
    ring_timeout: StrictInt = Field(default=30, ge=5, le=300, description="Seconds to ring.")
    max_duration: StrictInt = Field(default=300, ge=10, le=14_400, description="Seconds per call.")
    retries: dict[RetryOutcome, RetryRule] = Field(default_factory=dict)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    # the call flow (DESIGN §7)
    amd: Amd = Field(default_factory=Amd)
    message: SoundPath | None = Field(
        default=None, description="What a human hears first (broadcast, the press-1 prompt)."
    )
    ivr: Ivr | None = None
    queues: dict[Ident, Queue] = Field(default_factory=dict)
    agents: dict[Ident, Agent] = Field(default_factory=dict)
    handoff: Handoff | None = Field(
        default=None, description="Where a human goes when no IVR digit decides it."
    )
    recording: Recording = Field(default_factory=Recording)
    flow_timeout: StrictInt | None = Field(
        default=None,
        ge=10,
        le=14_400,
        description="Seconds before a handoff at most (a safety cap); 120 or max_duration.",
    )

    @field_validator("name")
    @classmethod
    def _name_printable(cls, value: str) -> str:
        value = value.strip()
        if not value or any(not c.isprintable() for c in value):
            raise ValueError("must be non-empty printable text")
        return value

    @field_validator("lists")
    @classmethod
    def _lists(cls, value: list[int | str]) -> list[int | str]:
        for item in value:
            if isinstance(item, str) and not item.strip():
                raise ValueError("list names must not be empty")
        return value

    @field_validator("retries")
    @classmethod
    def _retry_outcomes(cls, value: dict[str, RetryRule]) -> dict[str, RetryRule]:
        for outcome in value:
            if outcome == "invalid_number":
                raise ValueError("invalid_number is never retried")
            if outcome not in RETRYABLE_OUTCOMES:
                allowed = ", ".join(RETRYABLE_OUTCOMES)
                raise ValueError(f"unknown outcome {outcome!r} (retryable: {allowed})")
        return value

    @model_validator(mode="after")
    def _flow_rules(self) -> CampaignConfig:
        problems = flow_problems(self)
        if problems:
            raise FieldRulesError(problems)
        return self

    def warnings(self) -> list[str]:
        """What is valid but probably not meant (``create`` prints these)."""
        found: list[str] = []
        if self.message is None:
            if self.type is CampaignType.BROADCAST:
                found.append(
                    "message: not set, so this broadcast plays nothing to those it reaches"
                )
            elif self.ivr is not None:
                found.append("message: not set, so the IVR prompt is a plain tone")
        if self.handoff is not None and self.ivr is not None:
            found.append("handoff: not used, the ivr actions decide where a human goes")
        return found

    @property
    def flow_cap(self) -> int:
        """Seconds a call may spend in the automated flow (AMD, prompts, IVR, voicemail)."""
        if self.flow_timeout is not None:
            return self.flow_timeout
        return min(DEFAULT_FLOW_TIMEOUT, self.max_duration)

    @property
    def company_id(self) -> str | None:
        value = self.metadata.get("companyId")
        return None if value is None else str(value)

    def max_attempts(self, outcome: str) -> int:
        rule = self.retries.get(outcome)
        return rule.max_attempts if rule else 1


class FieldRulesError(ValueError):
    """Rules between fields, each ``(path, message)``; :func:`validation_problems` lists them
    under their own paths instead of one ``campaign:`` line."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {message}" for where, message in problems))
        self.problems = problems


def _known(kind: str, name: str, known: dict[str, Any]) -> str | None:
    if name in known:
        return None
    listed = ", ".join(sorted(known)) or "none defined"
    return f"unknown {kind} {name!r} ({kind}s: {listed})"


def flow_problems(config: CampaignConfig) -> list[tuple[str, str]]:
    """The call-flow rules that span sections, each with the path of the field at fault."""
    problems: list[tuple[str, str]] = []

    def check(where: str, handoff: Handoff) -> None:
        if handoff.queue is not None:
            problem = _known("queue", handoff.queue, config.queues)
            if problem:
                problems.append((f"{where}.queue", problem))
        if handoff.ai_agent is not None:
            problem = _known("agent", handoff.ai_agent, config.agents)
            if problem:
                problems.append((f"{where}.ai_agent", problem))

    if config.type is CampaignType.PRESS1 and config.ivr is None:
        problems.append(("ivr", "required for a press1 campaign (digits, actions, ...)"))
    if config.ivr is not None:
        for digit, action in config.ivr.actions.items():
            if isinstance(action, Handoff):
                check(f"ivr.actions.{digit}", action)
    if config.handoff is not None:
        check("handoff", config.handoff)
    for agent_id, agent in config.agents.items():
        if agent.transfer_queue is not None:
            problem = _known("queue", agent.transfer_queue, config.queues)
            if problem:
                problems.append((f"agents.{agent_id}.transfer_queue", problem))
    if config.type is CampaignType.AI_AGENT:
        chosen = config.handoff is not None and config.handoff.kind is ActionKind.AI_AGENT
        offered = config.ivr is not None and any(
            isinstance(a, Handoff) and a.kind is ActionKind.AI_AGENT
            for a in config.ivr.actions.values()
        )
        if not chosen and not offered:
            problems.append(
                (
                    "handoff",
                    "an ai_agent campaign needs an AI agent: handoff: {ai_agent: <id>} "
                    "(an entry of agents) or an ivr action ai_agent",
                )
            )
    amd = config.amd
    voicemail = amd.on_machine is OnMachine.VOICEMAIL
    if voicemail and amd.voicemail_message is None and config.message is None:
        problems.append(
            (
                "amd.voicemail_message",
                "required when on_machine is voicemail (or set message to leave that)",
            )
        )
    if config.flow_timeout is not None and config.flow_timeout > config.max_duration:
        problems.append(
            ("flow_timeout", f"must be <= max_duration ({config.max_duration} seconds)")
        )
    return problems


class CampaignConfigError(ValueError):
    """A campaign configuration is invalid; ``problems`` lists ``field: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}


#: The last ``loc`` part pydantic adds for each member of a union of plain types.
_UNION_MEMBERS = {"int": "an integer", "str": "a string", "float": "a number", "bool": "a boolean"}


#: Type errors said plainly (a YAML ``yes`` is not 1, nor ``"10"`` a number).
_TYPES = {
    "int_type": "an integer (a whole number, no quotes)",
    "float_type": "a number (no quotes)",
    "string_type": "text",
    "dict_type": "a mapping of keys to values",
    "list_type": "a list",
    "model_type": "a mapping of keys to values",
}


def validation_problems(exc: ValidationError) -> list[str]:
    """``field.path: message`` for every error, as a user reads them.

    A value that fits no member of a union (``lists`` items: id or name) is one problem,
    ``lists.0: must be an integer or a string``, not one per member.
    """
    problems: list[str] = []
    unions: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p not in ACTION_TAGS]
        if len(loc) > 1 and loc[-1] in _UNION_MEMBERS:
            where = ".".join(loc[:-1])
            if where not in unions:
                unions[where] = []
                problems.append(where)  # placeholder, filled in below
            unions[where].append(_UNION_MEMBERS[loc[-1]])
            continue
        where = ".".join(loc) or "campaign"
        error = err.get("ctx", {}).get("error")
        if isinstance(error, FieldRulesError):
            prefix = ".".join(loc)
            for path, text in error.problems:
                problems.append(f"{prefix + '.' if prefix else ''}{path}: {text}")
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        if len(loc) > 1 and loc[-1] == "[key]":  # a mapping's key, not its value
            where = ".".join(loc[:-2]) or "campaign"
            message = f"key {loc[-2]!r} {message}"
        if err["type"] == "extra_forbidden":
            message = "unknown key (not part of the campaign format)"
        elif err["type"] == "missing":
            message = "required"
        elif err["type"] in _TYPES:
            message = f"must be {_TYPES[err['type']]}"
        elif err["type"] == "too_short" and err.get("ctx", {}).get("min_length") == 1:
            message = "must not be empty"
        elif err["type"] in _BOUNDS:
            symbol, key = _BOUNDS[err["type"]]
            message = f"must be {symbol} {err['ctx'][key]:g}"
        problems.append(f"{where}: {message}")
    for index, entry in enumerate(problems):
        kinds = unions.get(entry)
        if kinds is not None:
            listed = ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]
            problems[index] = f"{entry}: must be {listed}"
    return problems


def parse_config(data: Any) -> CampaignConfig:
    """Validate a mapping (from YAML or JSON); raises :class:`CampaignConfigError`."""
    if not isinstance(data, dict):
        raise CampaignConfigError(["campaign: must be a mapping of keys to values"])
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise CampaignConfigError(validation_problems(exc)) from None
