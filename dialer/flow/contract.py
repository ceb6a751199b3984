"""The per-call channel variables of the shipped flow (DESIGN §7): names, and what the flow does
when one is absent. The simulator reads these names with these defaults and
:func:`dialer.flow.flow_variables` writes them, so one change to the flow is one change here.

Every value is one of: ``true``/``false``, a whole number, a digit string, an enum word, a
sound path (checked by the campaign model to be one blank-free word), a dial word, or a
bridge-variable list built by :func:`dialer.flow.variables.bridge_headers` (comma-separated
``name=value`` items whose values never hold a comma, blank, quote or brace).
"""

from __future__ import annotations

#: the originate's application: the shipped flow's extension (the simulator runs its model)
APPLICATION = "dialer_flow XML default"

ATTEMPT_ID = "dialer_attempt_id"  # set by the originate worker
CAMPAIGN_ID = "dialer_campaign_id"  # set by the originate worker
RECIPIENT_ID = "dialer_recipient_id"

#: where a (re-)entered flow starts: empty = the whole flow; ``queue`` = straight to the queue
#: handoff (dialer_handoff_target, dialer_queue_max_wait) of a call already answered and
#: analysed, e.g. an AI agent's ``transfer_to_human`` (``uuid_setvar`` + ``uuid_transfer``)
ENTRY = "dialer_entry"
ENTRY_QUEUE = "queue"

AMD = "dialer_amd"
AMD_ARGS = "dialer_amd_args"  # mod_amd ``name=value`` arguments, blank-separated
# without mod_amd (third-party) avmd alone decides: a beep within this window is a machine
AVMD_WINDOW_MS = "dialer_avmd_window_ms"
AMD_ON_MACHINE = "dialer_amd_on_machine"  # hangup | voicemail
VOICEMAIL_MESSAGE = "dialer_voicemail_message"

MESSAGE = "dialer_message"  # played first when there is no IVR (a broadcast)

IVR = "dialer_ivr"
IVR_PROMPT = "dialer_ivr_prompt"
IVR_DIGITS = "dialer_ivr_digits"
IVR_TRIES = "dialer_ivr_tries"
IVR_TIMEOUT_MS = "dialer_ivr_timeout_ms"
IVR_INVALID_MESSAGE = "dialer_ivr_invalid_message"
OPT_OUT_MESSAGE = "dialer_opt_out_message"
# per valid digit d (0-9): the action, and for a handoff action its parameters
IVR_ACTION = "dialer_ivr_action_{digit}"  # queue | extension | ai_agent | replay | opt_out
IVR_TARGET = "dialer_ivr_target_{digit}"
IVR_MAX_WAIT = "dialer_ivr_max_wait_{digit}"
IVR_HEADERS = "dialer_ivr_headers_{digit}"
IVR_CODEC = "dialer_ivr_codec_{digit}"

# the handoff of a human when no digit decides it (no IVR, or a digit without its action)
HANDOFF_TYPE = "dialer_handoff_type"  # queue | extension | ai_agent | none
HANDOFF_TARGET = "dialer_handoff_target"
QUEUE_MAX_WAIT = "dialer_queue_max_wait"
HANDOFF_HEADERS = "dialer_handoff_headers"
HANDOFF_CODEC = "dialer_handoff_codec"

RECORDING = "dialer_recording"
RECORDING_PATH = "dialer_recording_path"  # relative to the node's recordings directory
MAX_DURATION = "dialer_max_duration"  # seconds after answer at most (sched_hangup)
# seconds from answer to a handoff at most: a sched_hangup the handoff cancels (then the rest
# of max_duration is scheduled)
FLOW_TIMEOUT = "dialer_flow_timeout"

#: what the flow does when a variable is absent (a hand-written originate, a lab test)
DEFAULTS: dict[str, str] = {
    ENTRY: "",
    AMD: "true",
    AMD_ARGS: "",  # the node's amd.conf
    AVMD_WINDOW_MS: "5000",
    AMD_ON_MACHINE: "hangup",
    VOICEMAIL_MESSAGE: "",
    MESSAGE: "",
    IVR: "true",
    IVR_PROMPT: "tone_stream://%(1000,500,440);loops=2",
    IVR_DIGITS: "1",
    IVR_TRIES: "3",
    IVR_TIMEOUT_MS: "4000",
    IVR_INVALID_MESSAGE: "silence_stream://250",
    OPT_OUT_MESSAGE: "",
    HANDOFF_TYPE: "queue",
    HANDOFF_TARGET: "dialer_q@default",
    QUEUE_MAX_WAIT: "30",
    HANDOFF_HEADERS: "",
    HANDOFF_CODEC: "PCMU",
    RECORDING: "false",
    RECORDING_PATH: "",
    MAX_DURATION: "",  # no limit
    FLOW_TIMEOUT: "",  # no limit
}

HANDOFF_NONE = "none"
#: ``dialer::handoff`` of a re-entered flow carries ``handoff_reason`` = this
HANDOFF_REASON_TRANSFER = "transfer"

# ``dialer::amd`` fields after amd_result / amd_cause: ``amd_ms`` (whole ms the detection
# took) and ``amd_method``: mod_amd ran, avmd alone listened for a beep, or neither is loaded
AMD_METHOD_AMD = "amd"
AMD_METHOD_AVMD = "avmd"
AMD_METHOD_NONE = "none"
# avmd-only results (amd_result / amd_cause): a beep is a machine, none is undecided (a human)
AVMD_MACHINE = ("MACHINE", "BEEP")
AVMD_UNDECIDED = ("NOTSURE", "NO_BEEP")
NOT_INSTALLED = ("NOTSURE", "NOT_INSTALLED")  # neither mod_amd nor mod_avmd on the node
HANDOFF_ACTIONS = ("queue", "extension", "ai_agent")
ACTIONS = (*HANDOFF_ACTIONS, "replay", "opt_out")

#: X- headers every AI-agent bridge carries (capture 17: ``sip_h_X-…`` on the far leg)
HEADER_PREFIX = "sip_h_X-Dialer-"
FIELD_HEADER_PREFIX = "sip_h_X-Dialer-Field-"


def digit_var(template: str, digit: str) -> str:
    return template.format(digit=digit)
