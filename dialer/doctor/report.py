"""A doctor's findings: one ``Check`` per question asked of the node, and the ``Report`` that
turns them into lines for people, JSON for machines and an exit status.

Only a failed *required* check makes the node unfit (exit 1); an optional one that is missing
is a ``WARN`` (it costs a feature, not the calls), a check that could not be asked is ``SKIP``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    required: bool = True
    #: the measured values (versions, numbers, names) for ``--json``
    data: dict[str, Any] = field(default_factory=dict)

    def line(self, width: int) -> str:
        return f"{self.status.value:<6}{self.name:<{width}}  {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "required": self.required,
            "detail": self.detail,
            **({"data": self.data} if self.data else {}),
        }


@dataclass(frozen=True)
class Report:
    node: str
    address: str  # host:port as configured
    checks: tuple[Check, ...]

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status is status)

    @property
    def ok(self) -> bool:
        """Every required check passed (a required check never ends as WARN)."""
        return not any(c.status is Status.FAIL for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        parts = [
            f"{self.count(Status.PASS)} passed",
            _plural(self.count(Status.WARN), "warning"),
            f"{self.count(Status.FAIL)} failed",
        ]
        skipped = self.count(Status.SKIP)
        if skipped:
            parts.append(f"{skipped} skipped")
        verdict = "ready for the dialer" if self.ok else "NOT ready for the dialer"
        return f"node {self.node} ({self.address}): {', '.join(parts)}: {verdict}"

    def lines(self) -> list[str]:
        width = max((len(c.name) for c in self.checks), default=0)
        return [c.line(width) for c in self.checks] + [self.summary()]

    def as_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "address": self.address,
            "ok": self.ok,
            "summary": {
                "passed": self.count(Status.PASS),
                "warnings": self.count(Status.WARN),
                "failed": self.count(Status.FAIL),
                "skipped": self.count(Status.SKIP),
            },
            "checks": [c.as_json() for c in self.checks],
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
