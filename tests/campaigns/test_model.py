"""The campaign model and campaign files: what loads, and what every mistake is called."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialer.campaigns import (
    CampaignConfig,
    CampaignConfigError,
    CampaignFileError,
    CampaignType,
    load_campaign_file,
    parse_config,
)
from dialer.campaigns.files import MAX_DEPTH, MAX_FILE_BYTES

EXAMPLE = """\
name: Spring renewals
type: press1
lists: [Spring campaign, 7]
caller_id:
  number: "+1 212 555 0100"
  name: Acme Insurance
trunk: carrier-east
pacing:
  max_channels: 30
  cps: 2.5
schedule:
  start: 2026-12-01T09:00:00-05:00
  end: 2026-12-20T21:00:00Z
  days: [Mon, tue, wed, thu, fri]
  window: "09:00 - 20:00"
  holidays: US
ring_timeout: 25
max_duration: 600
retries:
  no_answer: {delay: 3600, max_attempts: 3, backoff: 2}
  busy: {delay: 600, max_attempts: 2}
  failed: {delay: 60, max_attempts: 2}
metadata:
  companyId: acme
  source: crm
  priority: 2
message: sounds/offer.wav
ivr:
  actions: {"1": {queue: sales}}
queues:
  sales: {target: sales@default}
"""


def minimal(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "X",
        "type": "broadcast",
        "lists": ["A"],
        "caller_id": {"number": "+12125550100"},
        "pacing": {"max_channels": 10, "cps": 5},
    }
    data.update(overrides)
    return data


def problems(data: Any) -> list[str]:
    with pytest.raises(CampaignConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def write(tmp_path: Path, text: str | bytes, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# -- what loads -------------------------------------------------------------------------------


def test_the_full_example_loads(tmp_path: Path) -> None:
    config = load_campaign_file(write(tmp_path, EXAMPLE))
    assert config.name == "Spring renewals"
    assert config.type is CampaignType.PRESS1
    assert config.lists == ["Spring campaign", 7]
    assert (config.caller_id.number, config.caller_id.name) == ("+12125550100", "Acme Insurance")
    assert config.trunk == "carrier-east"
    assert (config.pacing.max_channels, config.pacing.cps) == (30, 2.5)
    schedule = config.schedule
    assert schedule.start == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert schedule.end == datetime(2026, 12, 20, 21, 0, tzinfo=UTC)
    assert schedule.days == ["mon", "tue", "wed", "thu", "fri"]
    assert schedule.window == "09:00-20:00"
    assert schedule.holidays == "US"
    assert (config.ring_timeout, config.max_duration) == (25, 600)
    assert config.max_attempts("no_answer") == 3
    assert config.max_attempts("invalid_number") == 1
    assert config.retries["no_answer"].delay_after(2) == 7200
    assert config.company_id == "acme"
    assert config.metadata == {"companyId": "acme", "source": "crm", "priority": 2}


def test_defaults_of_a_minimal_campaign() -> None:
    config = parse_config(minimal())
    assert config.trunk == "default"
    assert (config.ring_timeout, config.max_duration, config.retries) == (30, 300, {})
    assert config.schedule.start is None
    assert config.schedule.window == "09:00-20:00"
    assert config.company_id is None


def test_the_shipped_sample_loads() -> None:
    with resources.as_file(resources.files("dialer") / "samples" / "campaign.yaml") as path:
        config = load_campaign_file(path)
    assert config.lists == ["Sample list"]
    assert config.type is CampaignType.BROADCAST
    assert config.schedule.window == "08:00-21:00"
    assert len(config.schedule.days) == 7
    assert (config.pacing.max_channels, config.pacing.cps, config.ring_timeout) == (10, 5.0, 20)
    assert set(config.retries) == {"no_answer", "busy"}


def test_a_stored_config_round_trips() -> None:
    config = parse_config(yaml.safe_load(EXAMPLE))
    assert CampaignConfig.model_validate(config.model_dump(mode="json")) == config


# -- every section names its field ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": "  "}, "name: must be non-empty printable text"),
        ({"name": "bell\x07"}, "name: must be non-empty printable text"),
        ({"name": 5}, "name: must be text"),
        ({"name": "x" * 201}, "name: String should have at most 200 characters"),
        ({"type": "robocall"}, "type: Input should be 'broadcast', 'press1' or 'ai_agent'"),
        ({"lists": []}, "lists: must not be empty"),
        ({"lists": "A"}, "lists: must be a list"),
        ({"lists": [" "]}, "lists: list names must not be empty"),
        ({"lists": [1.5]}, "lists.0: must be an integer or a string"),
        ({"caller_id": "+12125550100"}, "caller_id: must be a mapping of keys to values"),
        (
            {"caller_id": {"number": "12"}},
            "caller_id.number: '12' is not an E.164 number (e.g. +12125550100)",
        ),
        (
            {"caller_id": {"number": "+19995550100"}},
            "caller_id.number: '+19995550100' is not a valid phone number",
        ),
        (
            {"caller_id": {"number": "+12125550100", "name": "x" * 61}},
            "caller_id.name: String should have at most 60 characters",
        ),
        ({"caller_id": {}}, "caller_id.number: required"),
        ({"trunk": "bad trunk"}, "trunk: String should match pattern '^[A-Za-z0-9_.-]+$'"),
        ({"pacing": {"max_channels": 10, "cps": 0}}, "pacing.cps: must be > 0"),
        ({"pacing": {"max_channels": 10, "cps": 5000}}, "pacing.cps: must be <= 1000"),
        ({"pacing": {"max_channels": 0, "cps": 5}}, "pacing.max_channels: must be > 0"),
        ({"pacing": {"cps": 5}}, "pacing.max_channels: required"),
        (
            {"pacing": {"max_channels": True, "cps": 5}},
            "pacing.max_channels: must be an integer (a whole number, no quotes)",
        ),
        ({"pacing": {"max_channels": 10, "cps": "5"}}, "pacing.cps: must be a number (no quotes)"),
        ({"pacing": [10, 5]}, "pacing: must be a mapping of keys to values"),
        (
            {"schedule": {"window": "25:00-26:00"}},
            'schedule.window: must be "HH:MM-HH:MM" with start before end, got "25:00-26:00" '
            "(hours 00-23, minutes 00-59)",
        ),
        (
            {"schedule": {"window": "21:30-23:00"}},
            'schedule.window: "21:30-23:00" lies outside the legal calling hours 08:00-21:00',
        ),
        (
            {"schedule": {"days": ["mon", "funday"]}},
            'schedule.days: unknown day "funday" (use mon, tue, wed, thu, fri, sat, sun)',
        ),
        (
            {"schedule": {"start": "2026-12-01T09:00:00"}},
            "schedule.start: must include a time zone (e.g. 2026-12-01T09:00:00Z)",
        ),
        (
            {"schedule": {"start": "2026-12-02T09:00:00Z", "end": "2026-12-01T09:00:00Z"}},
            "schedule.end: must be after start",
        ),
        (
            {"schedule": {"holidays": "XX"}},
            'schedule.holidays: unknown country "XX" (use a code such as "US", "GB" or "US-CA")',
        ),
        (
            {"schedule": {"windows": "x"}},
            "schedule.windows: unknown key (not part of the campaign format)",
        ),
        ({"ring_timeout": 1}, "ring_timeout: must be >= 5"),
        ({"ring_timeout": 20.5}, "ring_timeout: must be an integer (a whole number, no quotes)"),
        ({"max_duration": 100_000}, "max_duration: must be <= 14400"),
        (
            {"retries": {"invalid_number": {"delay": 1, "max_attempts": 2}}},
            "retries: invalid_number is never retried",
        ),
        (
            {"retries": {"nope": {"delay": 1, "max_attempts": 2}}},
            "retries: unknown outcome 'nope' (retryable: no_answer, busy, failed)",
        ),
        (
            {"retries": {"busy": {"delay": -1, "max_attempts": 2}}},
            "retries.busy.delay: must be >= 0",
        ),
        (
            {"retries": {"busy": {"delay": 1, "max_attempts": 0}}},
            "retries.busy.max_attempts: must be >= 1",
        ),
        (
            {"retries": {"busy": {"delay": 1, "max_attempts": 2, "backoff": 0.5}}},
            "retries.busy.backoff: must be >= 1",
        ),
        ({"retries": {"busy": {"max_attempts": 2}}}, "retries.busy.delay: required"),
        ({"retries": {"busy": 5}}, "retries.busy: must be a mapping of keys to values"),
        (
            {"metadata": {"tags": ["a"]}},
            "metadata.tags: must be a string, an integer, a number or a boolean",
        ),
        ({"colour": "red"}, "colour: unknown key (not part of the campaign format)"),
    ],
)
def test_each_invalid_value_names_its_field(overrides: dict[str, Any], expected: str) -> None:
    assert problems(minimal(**overrides)) == [expected]


def test_every_problem_is_reported_at_once() -> None:
    data = minimal(pacing={"max_channels": 0, "cps": 0}, ring_timeout=1, colour="red")
    del data["name"]
    assert problems(data) == [
        "name: required",
        "pacing.max_channels: must be > 0",
        "pacing.cps: must be > 0",
        "ring_timeout: must be >= 5",
        "colour: unknown key (not part of the campaign format)",
    ]


@pytest.mark.parametrize("data", [None, [], "name: x", 5])
def test_not_a_mapping(data: Any) -> None:
    assert problems(data) == ["campaign: must be a mapping of keys to values"]


def test_the_error_message_joins_the_problems() -> None:
    with pytest.raises(CampaignConfigError) as caught:
        parse_config(minimal(ring_timeout=1, max_duration=1))
    assert str(caught.value) == "ring_timeout: must be >= 5; max_duration: must be >= 10"


# -- files ------------------------------------------------------------------------------------


def file_problems(path: Path) -> list[str]:
    with pytest.raises(CampaignFileError) as caught:
        load_campaign_file(path)
    return caught.value.problems


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert file_problems(path) == [f"{path}: no such file"]


def test_a_directory(tmp_path: Path) -> None:
    assert file_problems(tmp_path) == [f"{tmp_path}: is a directory, not a campaign file"]


def test_not_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nlists: [a, b\npacing: {}\n")
    [problem] = file_problems(path)
    assert problem.startswith(f"{path}: not valid YAML at line 3, column ")
    assert "did not find expected ',' or ']'" in problem


def test_bad_indentation_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\npacing:\n  cps: 1\n max_channels: 2\n")
    [problem] = file_problems(path)
    assert problem.startswith(f"{path}: not valid YAML at line 4, column 2")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("- a\n- b\n", "a list"),
        ("just words\n", "a single str value"),
        ("42\n", "a single int value"),
    ],
)
def test_a_file_that_is_not_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    path = write(tmp_path, text)
    assert file_problems(path) == [
        f"{path}: must be a mapping of campaign keys (name:, type:, ...), not {kind}"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert file_problems(path) == [f"{path}: the file is empty (expected a campaign mapping)"]


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE + "ring_timeout: 90\n")
    line = EXAMPLE.count("\n") + 1
    assert file_problems(path) == [
        f"{path}: not valid YAML at line {line}, column 1: key 'ring_timeout' appears twice in "
        "one mapping"
    ]


def test_validation_problems_come_through_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE.replace("cps: 2.5", "cps: 0").replace("press1", "robo"))
    with pytest.raises(CampaignConfigError) as caught:
        load_campaign_file(path)
    assert not isinstance(caught.value, CampaignFileError)
    assert caught.value.problems == [
        "type: Input should be 'broadcast', 'press1' or 'ai_agent'",
        "pacing.cps: must be > 0",
    ]


def test_yaml_one_point_one_surprises_are_type_errors(tmp_path: Path) -> None:
    # ``no`` is a boolean in YAML 1.1: it is not silently taken for a name
    path = write(tmp_path, EXAMPLE.replace("name: Spring renewals", "name: no"))
    with pytest.raises(CampaignConfigError) as caught:
        load_campaign_file(path)
    assert caught.value.problems == ["name: must be text"]


def test_a_utf8_bom_and_crlf_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + EXAMPLE.replace("\n", "\r\n").encode())
    assert load_campaign_file(path).name == "Spring renewals"


def test_unicode_names_load(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE.replace("Spring renewals", "Campaña de Müller 春"))
    assert load_campaign_file(path).name == "Campaña de Müller 春"


def test_holiday_dates_from_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE.replace("holidays: US", "holidays: [2026-12-24, 2026-12-25]"))
    assert load_campaign_file(path).schedule.holidays == [date(2026, 12, 24), date(2026, 12, 25)]


# -- hostile files ----------------------------------------------------------------------------


def test_a_ten_megabyte_file_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "name: " + "a" * (10 << 20) + "\n")
    assert file_problems(path) == [
        f"{path}: larger than {MAX_FILE_BYTES >> 10} KiB; a campaign file is a few lines"
    ]


def test_nul_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, b"name: x\x00y\n")
    assert file_problems(path) == [f"{path}: contains a NUL byte at offset 7: not a text file"]


def test_other_control_characters(tmp_path: Path) -> None:
    path = write(tmp_path, b"name: x\x01y\n")
    [problem] = file_problems(path)
    assert problem.startswith(f"{path}: not YAML text: ")
    assert "offset 7" in problem


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "name: café\n".encode("latin-1"))
    assert file_problems(path) == [f"{path}: not UTF-8 text (byte 0xe9 at offset 9)"]


def test_utf16_is_not_taken_for_text(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\n".encode("utf-16"))
    [problem] = file_problems(path)
    assert "NUL byte" in problem or "not UTF-8" in problem


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting(tmp_path: Path, opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    path = write(tmp_path, "metadata: " + opening * 10_000 + closing * 10_000 + "\n")
    [problem] = file_problems(path)
    # libyaml stops flow nesting at 1000 levels itself, before our limit sees the events
    assert problem in (
        f"{path}: line 1: nested more than {MAX_DEPTH} levels deep",
        f"{path}: not valid YAML at line 1, column 1010: while increasing flow level: "
        "exceeded maximum nesting depth",
    )


def test_block_style_deep_nesting(tmp_path: Path) -> None:
    text = "".join("  " * level + f"k{level}:\n" for level in range(200)) + "  " * 200 + "v\n"
    path = write(tmp_path, text)
    [problem] = file_problems(path)
    assert f"nested more than {MAX_DEPTH} levels deep" in problem


def test_an_alias_bomb(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    path = write(tmp_path, "\n".join(lines) + "\n")
    [problem] = file_problems(path)
    assert problem == f"{path}: expands to more than 100000 values (aliases?)"


def test_modest_aliases_are_fine(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        name: Aliased
        type: broadcast
        lists: [A]
        caller_id: {number: "+12125550100"}
        pacing: {max_channels: 10, cps: 5}
        retries:
          no_answer: &hourly {delay: 3600, max_attempts: 3}
          busy: *hourly
        """
    )
    config = load_campaign_file(write(tmp_path, text))
    assert config.retries["busy"] == config.retries["no_answer"]


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: !!python/object/apply:os.system ['true']\n")
    [problem] = file_problems(path)
    assert problem.startswith(f"{path}: not valid YAML at line 1, column 7")
    assert "python/object/apply" in problem
