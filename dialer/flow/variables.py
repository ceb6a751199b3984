"""A campaign and one call → the channel variables of the shipped flow (``contract``).

Pure: no database, no clock. Campaign strings were checked by the model to be carried as they
are; recipient data (custom fields) only ever reaches a bridge-variable list, value by value
through :func:`header_value`, so no field can add a variable, end a block or split the list.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass

from dialer.campaigns.callflow import ActionKind, Agent, Handoff, OnMachine, SimpleAction
from dialer.campaigns.model import CampaignConfig
from dialer.esl.originate import check_attempt_id, stored_form
from dialer.flow import contract as c

ENCODED_PREFIX = "b64:"
MAX_FIELD_BYTES = 256  # per X- header value, before encoding: SIP and the switch stay small
# A header value kept as it is: nothing the bridge's ``{…}`` parser or SIP would read.
_HEADER_SAFE = re.compile(r"[A-Za-z0-9._@+/-]+")
_ID_VALUE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def header_value(value: object) -> str:
    """``value`` as an X- header value: plain when safe, else ``b64:`` + URL-safe base64 of
    its UTF-8 (no padding), cut to ``MAX_FIELD_BYTES`` bytes at a character boundary first.
    The result has only ``[A-Za-z0-9._@+/:-]``: no comma, blank, quote, brace or ``=``."""
    text = value if isinstance(value, str) else str(value)
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_FIELD_BYTES:
        size = 0
        for index, char in enumerate(text):  # the longest prefix of whole characters
            size += len(char.encode("utf-8", "surrogatepass"))
            if size > MAX_FIELD_BYTES:
                text = text[:index]
                break
        raw = text.encode("utf-8", "surrogatepass")
    if text and _HEADER_SAFE.fullmatch(text) and not text.startswith(ENCODED_PREFIX):
        return text
    return ENCODED_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_header_value(value: str) -> str:
    """Inverse of :func:`header_value` (for the receiving side and the tests)."""
    if not value.startswith(ENCODED_PREFIX):
        return value
    payload = value[len(ENCODED_PREFIX) :]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return raw.decode("utf-8", "surrogatepass")


def _id_value(name: str, value: int | str) -> str:
    text = str(value)
    if isinstance(value, bool) or not _ID_VALUE.fullmatch(text):
        raise ValueError(f"{name} must be an integer or a plain id: {value!r}")
    return text


def bridge_headers(
    agent: Agent,
    *,
    attempt_id: str,
    campaign_id: str,
    recipient_id: str | None,
    fields: Mapping[str, object],
) -> str:
    """``sip_h_X-Dialer-…=value`` items, comma-separated, for the ``{…}`` of the agent bridge."""
    items = [
        f"{c.HEADER_PREFIX}Attempt={attempt_id}",
        f"{c.HEADER_PREFIX}Campaign={campaign_id}",
    ]
    if recipient_id is not None:
        items.append(f"{c.HEADER_PREFIX}Recipient={recipient_id}")
    for name in agent.fields:
        value = fields.get(name)
        if value is None or value == "":
            continue
        items.append(f"{c.FIELD_HEADER_PREFIX}{name}={header_value(value)}")
    return ",".join(items)


def render_dial(agent: Agent, *, attempt_id: str, campaign_id: str) -> str:
    return agent.dial.replace("{attempt_id}", attempt_id).replace("{campaign_id}", campaign_id)


def _extension_target(extension: str) -> str:
    number, _, context = extension.partition("@")
    return f"{number} XML {context or 'default'}"


@dataclass(frozen=True)
class _Call:
    attempt_id: str
    campaign_id: str
    recipient_id: str | None
    fields: Mapping[str, object]


def _handoff(config: CampaignConfig, handoff: Handoff, call: _Call) -> dict[str, str]:
    """type, target and the type's parameters (max_wait | headers, codec)."""
    kind = handoff.kind
    if kind is ActionKind.QUEUE:
        assert handoff.queue is not None
        queue = config.queues[handoff.queue]
        return {"type": kind.value, "target": queue.target, "max_wait": str(queue.max_wait)}
    if kind is ActionKind.EXTENSION:
        assert handoff.extension is not None
        return {"type": kind.value, "target": _extension_target(handoff.extension)}
    assert handoff.ai_agent is not None
    agent = config.agents[handoff.ai_agent]
    headers = bridge_headers(
        agent,
        attempt_id=call.attempt_id,
        campaign_id=call.campaign_id,
        recipient_id=call.recipient_id,
        fields=call.fields,
    )
    return {
        "type": kind.value,
        "target": render_dial(agent, attempt_id=call.attempt_id, campaign_id=call.campaign_id),
        "headers": headers,
        "codec": agent.codec,
    }


def flow_variables(
    config: CampaignConfig,
    *,
    campaign_id: int | str,
    attempt_id: str,
    recipient_id: int | str | None = None,
    fields: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """The channel variables to set at originate for one call of ``config``'s campaign.

    ``fields`` are the recipient's custom fields; only those an AI agent lists are sent, as
    X- headers. ``dialer_attempt_id`` and ``dialer_campaign_id`` are the worker's own.
    """
    check_attempt_id(attempt_id)
    cid = _id_value("campaign id", campaign_id)
    rid = None if recipient_id is None else _id_value("recipient id", recipient_id)
    call = _Call(attempt_id, cid, rid, fields or {})
    out: dict[str, str] = {}
    if rid is not None:
        out[c.RECIPIENT_ID] = rid

    amd = config.amd
    out[c.AMD] = "true" if amd.enabled else "false"
    if amd.enabled:
        arguments = amd.settings.arguments()
        if arguments:  # none: the node's amd.conf as it is
            out[c.AMD_ARGS] = arguments
        # a node without mod_amd listens for a beep (avmd) as long as mod_amd may analyse
        out[c.AVMD_WINDOW_MS] = str(amd.settings.total_analysis_time)
        out[c.AMD_ON_MACHINE] = amd.on_machine.value
        if amd.on_machine is OnMachine.VOICEMAIL:
            voicemail = amd.voicemail_message or config.message
            assert voicemail is not None  # the model requires one of them
            out[c.VOICEMAIL_MESSAGE] = voicemail

    ivr = config.ivr
    if ivr is None:
        out[c.IVR] = "false"
        if config.message is not None:
            out[c.MESSAGE] = config.message
    else:
        out[c.IVR] = "true"
        if config.message is not None:
            out[c.IVR_PROMPT] = config.message
        out[c.IVR_DIGITS] = ivr.valid_digits
        out[c.IVR_TRIES] = str(ivr.tries)
        out[c.IVR_TIMEOUT_MS] = str(ivr.timeout * 1000)
        if ivr.invalid_message is not None:
            out[c.IVR_INVALID_MESSAGE] = ivr.invalid_message
        if ivr.opt_out_message is not None:
            out[c.OPT_OUT_MESSAGE] = ivr.opt_out_message
        for digit, action in ivr.actions.items():
            if isinstance(action, SimpleAction):
                out[c.digit_var(c.IVR_ACTION, digit)] = action.value
                continue
            chosen = _handoff(config, action, call)
            out[c.digit_var(c.IVR_ACTION, digit)] = chosen["type"]
            out[c.digit_var(c.IVR_TARGET, digit)] = chosen["target"]
            if "max_wait" in chosen:
                out[c.digit_var(c.IVR_MAX_WAIT, digit)] = chosen["max_wait"]
            if "headers" in chosen:
                out[c.digit_var(c.IVR_HEADERS, digit)] = chosen["headers"]
                out[c.digit_var(c.IVR_CODEC, digit)] = chosen["codec"]

    if config.handoff is None or ivr is not None:
        out[c.HANDOFF_TYPE] = c.HANDOFF_NONE  # the IVR's actions decide, or nobody takes over
    else:
        chosen = _handoff(config, config.handoff, call)
        out[c.HANDOFF_TYPE] = chosen["type"]
        out[c.HANDOFF_TARGET] = chosen["target"]
        if "max_wait" in chosen:
            out[c.QUEUE_MAX_WAIT] = chosen["max_wait"]
        if "headers" in chosen:
            out[c.HANDOFF_HEADERS] = chosen["headers"]
            out[c.HANDOFF_CODEC] = chosen["codec"]

    out[c.RECORDING] = "true" if config.recording.enabled else "false"
    if config.recording.enabled:
        out[c.RECORDING_PATH] = f"dialer/{cid}/{attempt_id}.wav"
    out[c.MAX_DURATION] = str(config.max_duration)
    out[c.FLOW_TIMEOUT] = str(config.flow_cap)

    for name, value in out.items():
        # the switch must hold exactly this: a value the builder would encode is a bug here
        if stored_form(value) != value:
            raise AssertionError(f"flow variable {name} cannot be carried: {value!r}")
    # what the flow would take anyway is not sent: every variable rides in every event of the
    # call, so each one costs the consumer on every event (dialer_amd stays: the lifecycle
    # reads AMD as asked for from it when mod_amd left nothing)
    return {
        name: value
        for name, value in out.items()
        if name in _ALWAYS_SENT or c.DEFAULTS.get(name) != value
    }


_ALWAYS_SENT = frozenset({c.AMD})
