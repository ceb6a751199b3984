"""The called-party behaviour model: YAML in, one concrete ``Plan`` per call out.

A scenario gives rates and duration distributions; ``numbers`` maps an exact number, or a
prefix ending in ``*``, to fixed plan fields so a test can force an outcome. Durations are
written as a number (fixed), ``[min, max]`` (uniform) or ``{mean, sd, min, max}`` (clamped
normal), in simulated seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

OUTCOME_CAUSES = {
    "busy": "USER_BUSY",
    "no_answer": "NO_ANSWER",
    "congestion": "NORMAL_TEMPORARY_FAILURE",
    "rejected": "CALL_REJECTED",
}
OUTCOMES = ("answer", "busy", "no_answer", "invalid", "congestion", "rejected")


@dataclass(frozen=True)
class Duration:
    low: float
    high: float
    mean: float | None = None
    sd: float | None = None

    @classmethod
    def parse(cls, spec: Any) -> Duration:
        if isinstance(spec, int | float):
            return cls(float(spec), float(spec))
        if isinstance(spec, list) and len(spec) == 2:
            return cls(float(spec[0]), float(spec[1]))
        if isinstance(spec, dict):
            return cls(
                float(spec.get("min", 0.0)),
                float(spec.get("max", 1e9)),
                float(spec["mean"]),
                float(spec.get("sd", 0.0)),
            )
        raise ValueError(f"bad duration {spec!r}: use a number, [min, max] or {{mean, sd}}")

    def sample(self, rng: random.Random) -> float:
        if self.mean is not None:
            return min(self.high, max(self.low, rng.gauss(self.mean, self.sd or 0.0)))
        return rng.uniform(self.low, self.high)


@dataclass
class Plan:
    """What one callee will do. Every field can be forced per number."""

    outcome: str = "answer"
    cause: str = ""
    ring: float = 3.0  # seconds until answer / busy / reject
    machine: bool = False
    amd_cause: str = "HUMAN"
    amd_seconds: float = 1.4
    greeting: float = 10.0  # a machine hangs up this long after answering
    beep: float | None = None  # a machine's beep starts this long after answer (avmd hears it)
    digit: str | None = "1"  # several keys: one per IVR try ("51": 5, then 1)
    digit_after: float = 2.0  # after the IVR prompt starts
    hangup_after: float | None = None  # callee hangs up this long after answer (any stage)
    patience: float = 60.0  # a parked human hangs up if nothing happens this long
    agent: bool = True
    queue_wait: float = 5.0
    talk: float = 30.0


@dataclass
class Scenario:
    name: str = "custom"
    ring: Duration = field(default_factory=lambda: Duration(2.0, 8.0))
    outcomes: dict[str, float] = field(default_factory=lambda: {"answer": 1.0})
    invalid_causes: dict[str, float] = field(
        default_factory=lambda: {"NO_ROUTE_DESTINATION": 0.5, "UNALLOCATED_NUMBER": 0.5}
    )
    machine_share: float = 0.0
    machine_causes: dict[str, float] = field(
        default_factory=lambda: {"MAXWORDS": 0.6, "LONGGREETING": 0.3, "INITIALSILENCE": 0.1}
    )
    amd_human_seconds: Duration = field(default_factory=lambda: Duration(1.4, 2.6))
    amd_machine_seconds: Duration = field(default_factory=lambda: Duration(1.8, 2.5))
    greeting: Duration = field(default_factory=lambda: Duration(8.0, 20.0))
    digits: dict[str, float] = field(default_factory=lambda: {"1": 1.0})
    digit_after: Duration = field(default_factory=lambda: Duration(1.0, 4.0))
    hangup_during_prompt: float = 0.0
    prompt_hangup_after: Duration = field(default_factory=lambda: Duration(0.5, 3.0))
    patience: Duration = field(default_factory=lambda: Duration(30.0, 90.0))
    agent_available: float = 1.0
    queue_wait: Duration = field(default_factory=lambda: Duration(1.0, 10.0))
    talk: Duration = field(default_factory=lambda: Duration(20.0, 120.0))
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)

    # --- loading -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown scenario keys: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.type in ("Duration", Duration):
                value = Duration.parse(value)
            elif f.name in ("digits",):
                value = {("none" if k is None else str(k)): float(v) for k, v in value.items()}
            elif f.name == "numbers":
                value = {str(k): dict(v) for k, v in value.items()}
                for override in value.values():
                    bad = set(override) - {pf.name for pf in fields(Plan)}
                    if bad:
                        raise ValueError(f"unknown plan fields in numbers: {sorted(bad)}")
            kwargs[f.name] = value
        scenario = cls(**kwargs)
        for outcome in scenario.outcomes:
            if outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {outcome!r}; known: {OUTCOMES}")
        return scenario

    @classmethod
    def load(cls, spec: str | Path | Scenario) -> Scenario:
        """A built-in profile name, a YAML file path, or a Scenario."""
        if isinstance(spec, Scenario):
            return spec
        text: str
        path = Path(spec)
        if path.suffix in (".yaml", ".yml") or path.exists():
            text = path.read_text(encoding="utf-8")
        else:
            ref = resources.files("dialer.simulator") / "profiles" / f"{spec}.yaml"
            if not ref.is_file():
                raise ValueError(f"no such scenario profile: {spec!r}")
            text = ref.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        lab = yaml.safe_load(
            (resources.files("dialer.simulator") / "profiles" / "lab.yaml").read_text("utf-8")
        )
        data["numbers"] = {**lab["numbers"], **(data.get("numbers") or {})}
        return cls.from_dict(data)

    # --- sampling ------------------------------------------------------------------------

    def plan(self, number: str, rng: random.Random) -> Plan:
        """Sample a plan for ``number`` (all draws are made so one seed gives one sequence)."""
        outcome = _pick(self.outcomes, rng)
        cause = OUTCOME_CAUSES.get(outcome, "")
        if outcome == "invalid":
            cause = _pick(self.invalid_causes, rng)
        machine = rng.random() < self.machine_share
        digit = _pick(self.digits, rng) if self.digits else "none"
        prompt_hangup = rng.random() < self.hangup_during_prompt
        plan = Plan(
            outcome=outcome,
            cause=cause,
            ring=self.ring.sample(rng),
            machine=machine,
            amd_cause=_pick(self.machine_causes, rng) if machine else "HUMAN",
            amd_seconds=(self.amd_machine_seconds if machine else self.amd_human_seconds).sample(
                rng
            ),
            greeting=self.greeting.sample(rng),
            digit=None if digit == "none" else digit,
            digit_after=self.digit_after.sample(rng),
            hangup_after=self.prompt_hangup_after.sample(rng) if prompt_hangup else None,
            patience=self.patience.sample(rng),
            agent=rng.random() < self.agent_available,
            queue_wait=self.queue_wait.sample(rng),
            talk=self.talk.sample(rng),
        )
        override = self.override_for(number)
        if override:
            plan = replace(plan, **override)
            if "outcome" in override and "cause" not in override:
                plan.cause = OUTCOME_CAUSES.get(plan.outcome, plan.cause)
                if plan.outcome == "invalid" and not plan.cause:
                    plan.cause = "NO_ROUTE_DESTINATION"
        if plan.machine and (override is None or "beep" not in override):
            plan.beep = plan.greeting  # the beep ends the greeting
        if plan.hangup_after is not None and plan.hangup_after < 0:
            plan.hangup_after = None
        return plan

    def override_for(self, number: str) -> dict[str, Any] | None:
        if number in self.numbers:
            return self.numbers[number]
        best: tuple[int, dict[str, Any]] | None = None
        for key, override in self.numbers.items():
            matches = key.endswith("*") and number.startswith(key[:-1])
            if matches and (best is None or len(key) > best[0]):
                best = (len(key), override)
        return best[1] if best else None


def _pick(weights: dict[str, float], rng: random.Random) -> str:
    total = sum(weights.values())
    point = rng.random() * total
    for key, weight in weights.items():
        point -= weight
        if point < 0:
            return key
    return next(reversed(weights))
