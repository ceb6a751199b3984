"""The call-flow events of real calls, from the captures: per A leg, what the consumer takes
(its channel events and originate job, as ``captured.calls``) plus its CUSTOM ``dialer::*``
events and the ``callcenter::info`` events about it as a member (``CC-Member-Session-UUID``),
in Event-Sequence order."""

from __future__ import annotations

from functools import cache

from tests.engine.captured import calls, events_of

FLOW_SUBCLASSES = frozenset(
    {"dialer::amd", "dialer::ivr", "dialer::opt_out", "dialer::voicemail", "dialer::handoff"}
)


@cache
def flow_calls(name: str) -> dict[str, tuple[dict[str, str], ...]]:
    found = {leg: list(events) for leg, events in calls(name).items()}
    for event in events_of(name):
        if event.name != "CUSTOM":
            continue
        subclass = event.get("Event-Subclass") or ""
        if subclass in FLOW_SUBCLASSES:
            leg = event.unique_id or ""
        elif subclass == "callcenter::info":
            leg = event.get("CC-Member-Session-UUID") or ""
        else:
            continue
        if leg not in found:
            continue
        mapping = dict(event.headers.items())
        mapping["_body"] = event.body
        found[leg].append(mapping)
    return {
        leg: tuple(sorted(events, key=lambda e: int(e.get("Event-Sequence") or 0)))
        for leg, events in found.items()
    }


def only_call(name: str) -> tuple[dict[str, str], ...]:
    """The events of a capture's one call."""
    (events,) = flow_calls(name).values()
    return events
