"""Entry point: ``dialer <group> <command>``."""

from __future__ import annotations

import typer

from dialer.cli import calls, campaigns, db, dnc, lists, reports, webhooks
from dialer.cli.api import api_command
from dialer.cli.call import call_command
from dialer.cli.consumer import consumer_command
from dialer.cli.demo import demo_command
from dialer.cli.doctor import doctor_command
from dialer.cli.run import run_command
from dialer.cli.simulator import simulator_command

app = typer.Typer(
    help="Outbound campaign dialer for FreeSWITCH.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(lists.app, name="lists")
app.add_typer(dnc.app, name="dnc")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(calls.app, name="calls")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(reports.app, name="reports")
app.command("simulator")(simulator_command)
app.command("consumer")(consumer_command)
app.command("run")(run_command)
app.command("call")(call_command)
app.command("api")(api_command)
app.command("doctor")(doctor_command)
app.command("demo")(demo_command)


def main() -> None:
    app()
