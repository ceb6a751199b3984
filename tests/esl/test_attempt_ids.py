"""Attempt ids are canonical uuids: the database key, the A-leg uuid and the Job-UUID must be
the same string, so every other spelling of a uuid is refused before anything is sent."""

from __future__ import annotations

import uuid

import pytest

from dialer.esl import DialTemplate, build_originate
from dialer.esl.originate import check_attempt_id

CANONICAL = "8c3e5b0e-2f1a-4c55-9d0e-3b6f1d2a7c10"
TEMPLATE = DialTemplate("loopback/{number}/{context}", {"context": "default"})


@pytest.mark.parametrize(
    "spelling",
    [
        CANONICAL.upper(),
        CANONICAL.replace("-", ""),
        f"urn:uuid:{CANONICAL}",
        f"{{{CANONICAL}}}",
        f" {CANONICAL}",
        f"{CANONICAL}\n",
        CANONICAL[:-1] + "G",
        "",
        "not-a-uuid",
    ],
)
def test_other_spellings_are_refused(spelling: str) -> None:
    with pytest.raises(ValueError, match="attempt id"):
        check_attempt_id(spelling)
    with pytest.raises(ValueError, match="attempt id"):
        build_originate(
            attempt_id=spelling, number="15551234567", template=TEMPLATE, caller_id_number="1"
        )


def test_canonical_uuids_pass_unchanged() -> None:
    for _ in range(100):
        value = str(uuid.uuid4())
        assert check_attempt_id(value) == value
    request = build_originate(
        attempt_id=CANONICAL, number="15551234567", template=TEMPLATE, caller_id_number="1"
    )
    assert request.attempt_id == CANONICAL
    assert f"origination_uuid={CANONICAL}" in request.command()
