"""``dialer simulator``: a FreeSWITCH stand-in speaking the Event Socket protocol."""

from __future__ import annotations

import typer

from dialer.cli.context import fail


def simulator_command(
    listen: str = typer.Option("127.0.0.1:8021", "--listen", help="HOST:PORT to listen on."),
    password: str = typer.Option("ClueCon", "--password", help="Event Socket password."),
    scenario: str = typer.Option(
        "realistic", "--scenario", help="Built-in profile (realistic, all-answer) or a YAML file."
    ),
    time_scale: float = typer.Option(
        1.0, "--time-scale", min=0.0001, help="Multiply every simulated duration (0.01 = 100x)."
    ),
    ledger: str | None = typer.Option(None, "--ledger", help="Write ground truth as JSON lines."),
    max_sessions: int = typer.Option(1000, "--max-sessions", min=1),
    sessions_per_second: int = typer.Option(30, "--sessions-per-second", min=1),
    seed: int | None = typer.Option(None, "--seed", help="Seed for a repeatable run."),
    acl: str | None = typer.Option(
        None,
        "--acl",
        help="Networks allowed to connect, CIDR[,CIDR...] (e.g. 172.16.0.0/12 for the other "
        "containers of a compose stack; listen on 0.0.0.0 too). Default: loopback only; "
        "anyone else gets text/rude-rejection, as FreeSWITCH's apply-inbound-acl.",
    ),
    without: list[str] = typer.Option(
        [],
        "--without",
        help="A module this node lacks (repeatable), e.g. --without mod_amd: the flow then "
        "detects machines with avmd alone; dialer doctor sees it too.",
    ),
    queue: list[str] = typer.Option(
        [],
        "--queue",
        help="A mod_callcenter queue it has besides dialer_q@default (repeatable), e.g. "
        "--queue sales@default: what callcenter_config queue list (and dialer doctor) shows.",
    ),
) -> None:
    """Run the FreeSWITCH simulator until interrupted."""
    from dialer.simulator.cli import run_simulator_cli  # gevent is only loaded when needed

    try:
        run_simulator_cli(
            listen=listen, password=password, scenario=scenario, time_scale=time_scale,
            ledger=ledger, max_sessions=max_sessions, sessions_per_second=sessions_per_second,
            seed=seed, acl=acl, without=without, queues=queue,
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        fail(f"simulator: {exc}")
