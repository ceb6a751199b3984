"""Customer tools in the campaign model: the seeds' shape loads, and every mistake is refused
at create time with its field named."""

from __future__ import annotations

from typing import Any

import pytest

from dialer.campaigns import CampaignConfigError, parse_config
from tests.api.support import AGENT_DIAL, ai_campaign

# the seeds' "Update Lead Status" CRM tool, its placeholders named by source
LEAD_TOOL: dict[str, Any] = {
    "name": "crm_update_lead",
    "description": "Updates the lead status in the CRM.",
    "parameters": {
        "type": "object",
        "properties": {
            "lead_status": {"type": "string", "enum": ["hot", "warm", "cold"]},
            "notes": {"type": "string"},
        },
        "required": ["lead_status"],
    },
    "api_endpoint": "https://crm.example.com/api/v1/leads/{{recipient.contact_id}}",
    "http_method": "PUT",
    "headers": {"Authorization": "Bearer live-key"},
    "body_template": {"status": "{{lead_status}}", "notes": "{{notes}}",
                      "updated_by": "ai_agent", "call_id": "{{call.attempt_id}}"},
}  # fmt: skip


def with_tools(*tools: dict[str, Any]) -> dict[str, Any]:
    return ai_campaign(agents={"bot": {"dial": AGENT_DIAL, "tools": list(tools)}})


def problems(*tools: dict[str, Any]) -> list[str]:
    with pytest.raises(CampaignConfigError) as caught:
        parse_config(with_tools(*tools))
    return caught.value.problems


def test_the_seeds_shape_loads() -> None:
    config = parse_config(with_tools(LEAD_TOOL, {**LEAD_TOOL, "name": "other",
                                                 "http_method": "get", "body_template": None,
                                                 "query_params": {"s": "{{args.lead_status}}"}}))
    tool = config.agents["bot"].tools[0]
    assert (tool.name, tool.http_method.value) == ("crm_update_lead", "PUT")
    assert tool.parameter_names == frozenset({"lead_status", "notes"})
    assert config.agents["bot"].tools[1].http_method.value == "GET"
    assert config.agents["bot"].tool("other") is config.agents["bot"].tools[1]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "update_lead_status"},
         "agents.bot.tools.0.name: update_lead_status is a built-in tool of the dialer; give "
         "yours another name (built-in: end_call, opt_out, schedule_callback, "
         "transfer_to_human, update_lead_status)"),
        ({"name": "send sms"},
         "agents.bot.tools.0.name: must be 1-64 letters, digits or _ (starting with a letter "
         "or _)"),
        ({"http_method": "FETCH"},
         "agents.bot.tools.0.http_method: Input should be 'GET', 'POST', 'PUT', 'PATCH' or "
         "'DELETE'"),
        ({"api_endpoint": "ftp://crm.example.com/x"},
         "agents.bot.tools.0.api_endpoint: must be an http:// or https:// URL like "
         "https://crm.example.com/api"),
        ({"api_endpoint": "https://{{recipient.host}}/x"},
         "agents.bot.tools.0.api_endpoint: must have a fixed host (placeholders only in the "
         "path) and no blanks"),
        ({"parameters": {"type": "object", "properties": {"a": {"type": "strnig"}}}},
         "agents.bot.tools.0.parameters: not a valid JSON schema at properties/a/type: "
         "'strnig' is not valid under any of the given schemas"),
        ({"parameters": {"type": "array"}},
         'agents.bot.tools.0.parameters: must be an object schema ("type": "object", '
         '"properties": ...)'),
        ({"headers": {"Authorization": "Bearer {{CRM_API_KEY}}"}},
         "agents.bot.tools.0: headers: unknown placeholder {{CRM_API_KEY}} (use "
         "args.<parameter>, recipient.<field> or call.attempt_id|campaign_id|to_number; a "
         "bare name must be one of the parameters)"),
        ({"body_template": {"x": "{{args.nope}}"}},
         "agents.bot.tools.0: body_template: placeholder {{args.nope}}: no parameter 'nope' "
         "(parameters: lead_status, notes)"),
        ({"body_template": {"x": "{{call.sip_id}}"}},
         "agents.bot.tools.0: body_template: placeholder {{call.sip_id}}: call has "
         "attempt_id, campaign_id, to_number"),
        ({"body_template": {"x": "{{ lead_status }"}},
         "agents.bot.tools.0: body_template: unbalanced braces in '{{ lead_status }'"),
        ({"headers": {"Bad Name": "x"}},
         "agents.bot.tools.0.headers: 'Bad Name' is not an HTTP header name"),
        ({"timeout": 30}, "agents.bot.tools.0.timeout: unknown key (not part of the campaign "
         "format)"),
    ],
)  # fmt: skip
def test_a_broken_tool_is_refused_naming_its_field(change: dict[str, Any], problem: str) -> None:
    assert problems({**LEAD_TOOL, **change}) == [problem]


def test_a_tool_name_is_defined_once_per_agent() -> None:
    assert problems(LEAD_TOOL, LEAD_TOOL) == [
        "agents.bot.tools: tool 'crm_update_lead' is defined twice"
    ]
