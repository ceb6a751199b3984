"""``dialer demo``: the dialer's main job in one command, on its own database and simulator."""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
import typer

from dialer.cli.context import err_console, fail, load_settings, out_console


def demo_command(
    out: Path = typer.Option(
        Path("demo-out"), "--out", help="Directory for the demo's database and files."
    ),
    rows: int | None = typer.Option(
        None, "--rows", help="Use only the first N rows of the shipped list (default: all)."
    ),
    seed: int = typer.Option(7, "--seed", help="Simulator seed."),
    no_display: bool = typer.Option(
        False, "--no-display", help="Plain progress lines instead of the live panel."
    ),
) -> None:
    """Import the sample list, run a press-1 campaign on a simulated switch and a simulated
    weekday morning, receive its signed webhooks, and write the reports."""
    from dialer.campaigns.model import CampaignConfigError
    from dialer.demo.display import LiveDashboard, PlainProgress
    from dialer.demo.printout import print_result
    from dialer.demo.run import SPEEDUP, DemoError, DemoOptions, run_demo
    from dialer.lists import ListImportError

    settings = load_settings()
    live = not no_display and out_console.is_terminal
    display = (
        LiveDashboard(out_console, "dialer demo: Demo renewal offer", SPEEDUP)
        if live
        else PlainProgress(out_console)
    )
    try:
        with display:
            result = run_demo(
                DemoOptions(out=out, rows=rows, seed=seed),
                settings,
                show=display.show,
                say=_say,
            )
    except (DemoError, ValueError, ListImportError, CampaignConfigError) as exc:
        fail(f"demo: {exc}")
    except OSError as exc:
        where = f": {exc.filename}" if exc.strerror and exc.filename else ""
        fail(f"demo: {exc.strerror or exc}{where}")
    except sa.exc.SQLAlchemyError as exc:
        fail(f"demo: database error: {str(exc).splitlines()[0]}")
    print_result(out_console, result)
    if result.deliveries.timed_out or result.webhooks.rejected:
        err_console.print("demo: not every webhook was delivered and verified", highlight=False)
        sys.exit(1)


def _say(line: str) -> None:
    out_console.print(line, highlight=False, markup=False, soft_wrap=True)
