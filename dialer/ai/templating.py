"""A customer tool's request from its templates: ``{{placeholder}}`` in the endpoint, the query
parameters, the headers and the JSON body (the seeds' customer-tool shape).

A placeholder names one of three sources:

- ``{{args.NAME}}`` — an argument the agent passed (``NAME`` must be a property of the tool's
  ``parameters`` schema); a bare ``{{NAME}}`` means the same when ``NAME`` is such a property,
  as in the seeds' examples;
- ``{{recipient.FIELD}}`` — a custom field of the contact list row, or ``recipient.id`` /
  ``recipient.phone``;
- ``{{call.attempt_id}}``, ``{{call.campaign_id}}``, ``{{call.to_number}}``.

Values are never spliced into text that is parsed again. The body is built as a structure and
serialised once: a string that is exactly one placeholder becomes that value as JSON (a
number stays a number, a list a list, a missing optional argument ``null``); a placeholder
inside a longer string adds the value's text to that string. In the endpoint each value is
percent-encoded (one path segment, ``/`` included); query parameters are encoded by the HTTP
client, and a parameter whose whole value is missing is left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
CALL_KEYS = ("attempt_id", "campaign_id", "to_number")
RECIPIENT_KEYS = ("id", "phone")

Kind = Literal["args", "recipient", "call"]


class TemplateError(ValueError):
    """A template names something no call can supply, or a value cannot be carried."""


@dataclass(frozen=True)
class Source:
    kind: Kind
    name: str


def resolve(raw: str, parameters: frozenset[str]) -> Source:
    """The source a placeholder's text names; ``TemplateError`` saying what is allowed."""
    kind, dot, name = raw.partition(".")
    if not dot:
        if raw in parameters:
            return Source("args", raw)
        raise TemplateError(
            f"unknown placeholder {{{{{raw}}}}} (use args.<parameter>, recipient.<field> or "
            f"call.{'|'.join(CALL_KEYS)}; a bare name must be one of the parameters)"
        )
    if not _NAME.fullmatch(name):
        raise TemplateError(f"placeholder {{{{{raw}}}}}: {name!r} is not a name")
    if kind == "args":
        if name not in parameters:
            known = ", ".join(sorted(parameters)) or "none"
            raise TemplateError(
                f"placeholder {{{{{raw}}}}}: no parameter {name!r} (parameters: {known})"
            )
        return Source("args", name)
    if kind == "recipient":
        return Source("recipient", name)
    if kind == "call":
        if name not in CALL_KEYS:
            raise TemplateError(
                f"placeholder {{{{{raw}}}}}: call has {', '.join(CALL_KEYS)}"
            )
        return Source("call", name)
    raise TemplateError(
        f"unknown placeholder {{{{{raw}}}}} (sources: args, recipient, call)"
    )


def strings(value: object) -> Iterator[str]:
    """Every string of a JSON structure (values only: keys are not templated)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def check(value: object, parameters: frozenset[str]) -> None:
    """Raise ``TemplateError`` for the first placeholder of ``value`` no call could fill."""
    for text in strings(value):
        for match in PLACEHOLDER.finditer(text):
            resolve(match.group(1), parameters)
        leftover = PLACEHOLDER.sub("", text)
        if "{{" in leftover or "}}" in leftover:
            raise TemplateError(f"unbalanced braces in {text[:80]!r}")


@dataclass(frozen=True)
class Values:
    """What one call supplies to its templates."""

    args: Mapping[str, Any] = field(default_factory=dict)
    recipient: Mapping[str, Any] = field(default_factory=dict)
    call: Mapping[str, Any] = field(default_factory=dict)

    def get(self, source: Source) -> Any:
        table = {"args": self.args, "recipient": self.recipient, "call": self.call}
        return table[source.kind].get(source.name)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_json(template: Any, values: Values, parameters: frozenset[str]) -> Any:
    """The body: the template's structure with its placeholders filled (see the module)."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole is not None:
            return values.get(resolve(whole.group(1), parameters))
        return PLACEHOLDER.sub(
            lambda m: _text(values.get(resolve(m.group(1), parameters))), template
        )
    if isinstance(template, Mapping):
        return {key: render_json(item, values, parameters) for key, item in template.items()}
    if isinstance(template, list):
        return [render_json(item, values, parameters) for item in template]
    return template


def render_text(
    template: str, values: Values, parameters: frozenset[str], *, encode: bool = False
) -> str:
    """One line of text (a header value, the endpoint with ``encode``)."""

    def fill(match: re.Match[str]) -> str:
        text = _text(values.get(resolve(match.group(1), parameters)))
        if encode:
            return quote(text, safe="")
        if any(not c.isprintable() for c in text):
            raise TemplateError(f"{match.group(0)} holds a control character or a newline")
        return text

    return PLACEHOLDER.sub(fill, template)


def render_query(
    template: Mapping[str, str], values: Values, parameters: frozenset[str]
) -> dict[str, str]:
    """Query parameters; one whose whole value is a missing placeholder is left out."""
    out: dict[str, str] = {}
    for name, text in template.items():
        whole = PLACEHOLDER.fullmatch(text.strip())
        if whole is not None and values.get(resolve(whole.group(1), parameters)) is None:
            continue
        out[name] = PLACEHOLDER.sub(
            lambda m: _text(values.get(resolve(m.group(1), parameters))), text
        )
    return out
