"""Campaign files: YAML in, a validated :class:`CampaignConfig` out, or errors a user can act on.

Everything that can go wrong is a :class:`CampaignConfigError` whose ``problems`` are lines
such as ``pacing.cps: must be > 0``; file-level problems (missing, too large, not text, not
YAML, not a mapping) are its subclass :class:`CampaignFileError`. Never a traceback.

A campaign file is a few hundred bytes, so hostile input is refused before it costs anything:
more than :data:`MAX_FILE_BYTES`, a NUL byte or other binary content, nesting deeper than
:data:`MAX_DEPTH`, or aliases that expand to more than :data:`MAX_NODES` nodes ("billion
laughs"). YAML is parsed with ``safe_load`` semantics only (libyaml when available): no tags
build Python objects. A key repeated in one mapping is an error, not "the last one wins".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from dialer.campaigns.model import CampaignConfig, CampaignConfigError, parse_config

MAX_FILE_BYTES: Final = 1 << 20
MAX_DEPTH: Final = 32
MAX_NODES: Final = 100_000

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CampaignFileError(CampaignConfigError):
    """The file cannot be read as a campaign at all (before any field is looked at)."""


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """``safe_load`` that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let the base class report it
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def load_campaign_file(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML file; raises :class:`CampaignConfigError`."""
    return parse_config(read_campaign_yaml(path))


def read_campaign_yaml(path: str | Path) -> Any:
    """The file's YAML document as plain data (checked for size, text, depth and expansion)."""
    path = Path(path)
    text = _read_text(path)
    _check_structure(path, text)
    try:
        data = yaml.load(text, Loader=_Loader)  # a safe loader: no Python objects
    except yaml.YAMLError as exc:
        raise CampaignFileError([_yaml_problem(path, exc)]) from None
    except RecursionError:
        raise CampaignFileError([f"{path}: nested too deeply"]) from None
    if data is None:
        raise CampaignFileError([f"{path}: the file is empty (expected a campaign mapping)"])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single {type(data).__name__} value"
        raise CampaignFileError(
            [f"{path}: must be a mapping of campaign keys (name:, type:, ...), not {kind}"]
        )
    return data


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise CampaignFileError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise CampaignFileError([f"{path}: is a directory, not a campaign file"]) from None
    except OSError as exc:
        raise CampaignFileError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise CampaignFileError(
            [f"{path}: larger than {MAX_FILE_BYTES >> 10} KiB; a campaign file is a few lines"]
        )
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise CampaignFileError([f"{path}: contains a NUL byte at offset {nul}: not a text file"])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CampaignFileError(
            [f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"]
        ) from None


def _check_structure(path: Path, text: str) -> None:
    """Refuse deep nesting and alias bombs from the event stream, before building anything."""
    depth = 0
    nodes = 0
    sizes: dict[str, int] = {}  # anchor -> nodes it expands to
    open_anchors: list[tuple[str | None, int]] = []
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                nodes += sizes.get(event.anchor or "", 1)
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                nodes += 1
                depth += 1
                if depth > MAX_DEPTH:
                    where = (
                        "" if event.start_mark is None else f" line {event.start_mark.line + 1}:"
                    )
                    raise CampaignFileError(
                        [f"{path}:{where} nested more than {MAX_DEPTH} levels deep"]
                    )
                open_anchors.append((event.anchor, nodes))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                anchor, started = open_anchors.pop()
                if anchor is not None:
                    sizes[anchor] = nodes - started + 1
            if nodes > MAX_NODES:
                raise CampaignFileError(
                    [f"{path}: expands to more than {MAX_NODES} values (aliases?)"]
                )
    except yaml.YAMLError as exc:
        raise CampaignFileError([_yaml_problem(path, exc)]) from None


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None)
    if isinstance(exc, yaml.reader.ReaderError):
        return f"{path}: not YAML text: {exc.reason} (offset {exc.position})"
    if mark is not None and problem:
        context = getattr(exc, "context", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        detail = f"{context}: {problem}" if context else problem
        return f"{path}: not valid YAML at {where}: {detail}"
    return f"{path}: not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc)}"
