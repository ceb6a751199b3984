"""What a call's end means: FreeSWITCH hangup causes to the customer-facing outcomes (DESIGN §5).

The call flow (AMD, IVR, queue, AI) refines the outcome of answered calls; this module knows
only what the switch says about calls that never reached the flow, and the answered default.
"""

from __future__ import annotations

#: Causes of an unanswered call that mean the line was busy or the callee declined.
BUSY_CAUSES = frozenset({"USER_BUSY", "CALL_REJECTED", "USER_CHALLENGE"})
#: Causes that mean it rang (or could ring) and nobody picked up.
NO_ANSWER_CAUSES = frozenset(
    {
        "NO_ANSWER",
        "NO_USER_RESPONSE",
        "ALLOTTED_TIMEOUT",
        "PROGRESS_TIMEOUT",
        "SUBSCRIBER_ABSENT",
        "ORIGINATOR_CANCEL",
    }
)
#: Causes that mean the number itself is wrong: never retried.
INVALID_NUMBER_CAUSES = frozenset(
    {
        "UNALLOCATED_NUMBER",
        "NO_ROUTE_DESTINATION",
        "INVALID_NUMBER_FORMAT",
        "NUMBER_CHANGED",
        "INCOMPATIBLE_DESTINATION",
        "NO_ROUTE_TRANSIT_NET",
    }
)

#: Outcomes a campaign may retry (``retries:`` keys); invalid numbers never are.
RETRYABLE_OUTCOMES = ("no_answer", "busy", "failed")


def outcome_for_unanswered(cause: str) -> str:
    """The outcome of a call that was never answered, from its hangup or ``-ERR`` cause.

    Anything unknown is ``failed``: a network or switch problem, retried under its own rule.
    """
    cause = cause.strip().upper()
    if cause in BUSY_CAUSES:
        return "busy"
    if cause in NO_ANSWER_CAUSES:
        return "no_answer"
    if cause in INVALID_NUMBER_CAUSES:
        return "invalid_number"
    return "failed"


def outcome_for_answered() -> str:
    """An answered call that ended without a call-flow result (the flow refines this)."""
    return "completed"


def error_cause(result: str) -> str:
    """The cause in a bgapi originate result: ``-ERR USER_BUSY`` → ``USER_BUSY``."""
    text = result.strip()
    if text.startswith("-ERR"):
        text = text[4:].strip()
    return text.split()[0].upper() if text else "UNKNOWN"
