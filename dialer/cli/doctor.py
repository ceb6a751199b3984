"""``dialer doctor --node NAME``: check one FreeSWITCH node before the dialer uses it.

One line per check (``PASS``/``FAIL``/``WARN``/``SKIP``), a summary, exit 0 only when every
required check passed, 1 when one failed (the node cannot be reached counts), 2 when the
command itself is wrong (unknown node, unknown campaign, bad configuration).
"""

from __future__ import annotations

import json

import typer

from dialer.cli.context import fail, load_settings


def doctor_command(
    node: str = typer.Option(..., "--node", help="A node of DIALER_FS_NODES, by name."),
    campaign: int | None = typer.Option(
        None, "--campaign", help="Check only what this campaign needs (its queues, modules)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    timeout: float = typer.Option(
        5.0, "--timeout", min=0.1, max=120.0, help="Seconds to wait for the node, per step."
    ),
) -> None:
    """Check a node: ESL access, version, modules, the shipped flow, limits, queues."""
    from dialer.doctor import examine
    from dialer.doctor.scope import ScopeError, needs_for

    settings = load_settings()
    nodes = {n.name: n for n in settings.nodes}
    if node not in nodes:
        known = ", ".join(sorted(nodes)) or "none"
        fail(f"unknown node {node!r} (DIALER_FS_NODES has: {known})")
    try:
        needs, notes = needs_for(settings, campaign)
    except ScopeError as exc:
        fail(str(exc))
    report = examine(nodes[node], needs, timeout=timeout, extra=notes)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        typer.echo("\n".join(report.lines()))
    raise typer.Exit(report.exit_code)
