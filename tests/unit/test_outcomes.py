from __future__ import annotations

import pytest

from dialer.outcomes import error_cause, outcome_for_unanswered


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [
        ("USER_BUSY", "busy"),
        ("CALL_REJECTED", "busy"),
        ("NO_ANSWER", "no_answer"),
        ("no_user_response", "no_answer"),
        ("UNALLOCATED_NUMBER", "invalid_number"),
        ("NO_ROUTE_DESTINATION", "invalid_number"),
        ("DESTINATION_OUT_OF_ORDER", "failed"),
        ("NORMAL_TEMPORARY_FAILURE", "failed"),
        ("SYSTEM_SHUTDOWN", "failed"),
        ("", "failed"),
    ],
)
def test_causes_map_to_outcomes(cause: str, outcome: str) -> None:
    assert outcome_for_unanswered(cause) == outcome


@pytest.mark.parametrize(
    ("result", "cause"),
    [
        ("-ERR USER_BUSY\n", "USER_BUSY"),
        ("-ERR NO_ROUTE_DESTINATION", "NO_ROUTE_DESTINATION"),
        ("-ERR", "UNKNOWN"),
        ("-ERR \n", "UNKNOWN"),
    ],
)
def test_error_cause(result: str, cause: str) -> None:
    assert error_cause(result) == cause
